/* schedule: not yet written */
