/* pool: not yet written */
