/* optim: not yet written */
