"""Protocol doors: one folder per wire protocol the gateway speaks to its clients."""
