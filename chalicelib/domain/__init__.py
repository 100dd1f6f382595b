"""Pure model of the portal: money, invoices, payments, stores and errors (no I/O)."""
