/* activation: not yet written */
