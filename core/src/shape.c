/* shape: not yet written */
