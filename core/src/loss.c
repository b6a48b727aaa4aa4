/* loss: not yet written */
