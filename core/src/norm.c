/* norm: not yet written */
