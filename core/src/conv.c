/* conv: not yet written */
