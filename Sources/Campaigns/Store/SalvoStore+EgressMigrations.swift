import GRDB

extension SalvoStore {
    /// Which local address each attempt was made from (named "v8-egress: …"), registered
    /// after the shared migrations.
    static func registerEgressMigrations(in migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v8-egress: the source address of each attempt") { db in
            try db.execute(sql: """
                -- The local IP address the attempt's session was made from (the address the
                -- server saw: `delivery.source_address`, or the one the system chose); NULL
                -- when no session opened.
                ALTER TABLE attempts ADD COLUMN source_address TEXT;

                -- Carried by the send log until it is applied (SalvoStore+SendLog.swift).
                ALTER TABLE send_log ADD COLUMN source_address TEXT;
                """)
        }
    }
}
