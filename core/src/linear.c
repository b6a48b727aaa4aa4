/* linear: not yet written */
