"""Case intake: request forms, hospital submissions, the case timeline."""
