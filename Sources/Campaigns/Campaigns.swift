// The SQLite store and everything a marketer manages in it: lists, recipients,
// segments, campaigns, deliveries, suppression and reports.
