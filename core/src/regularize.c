/* regularize: not yet written */
