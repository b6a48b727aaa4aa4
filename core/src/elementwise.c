/* elementwise: not yet written */
