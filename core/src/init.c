/* init: not yet written */
