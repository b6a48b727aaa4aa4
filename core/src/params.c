/* params: not yet written */
