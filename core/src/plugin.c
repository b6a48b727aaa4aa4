/* plugin: not yet written */
