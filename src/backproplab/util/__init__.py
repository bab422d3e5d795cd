"""What every layer shares: number display, one-line messages, checked file writes, memory limits."""
