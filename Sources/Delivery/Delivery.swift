// Routing, sites, connection pools, throttles, retry policy and bounce classification:
// the engine that turns claimed deliveries into SMTP transactions.
