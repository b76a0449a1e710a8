import GRDB

extension SalvoStore {
    /// What TLS protected each attempt (named "v7-tls: …"), registered after the shared
    /// migrations.
    static func registerTLSMigrations(in migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v7-tls: TLS version and certificate verification of each attempt") { db in
            try db.execute(sql: """
                -- The session an attempt's reply came on: its TLS version ('TLSv1.3'), NULL
                -- in clear text or when no session opened; and whether the server's
                -- certificate verified (1) or was only recorded (0), NULL without TLS.
                ALTER TABLE attempts ADD COLUMN tls_version TEXT;
                ALTER TABLE attempts ADD COLUMN tls_verified INTEGER;

                -- The same for the last attempt that reached a server (the one `mx_host`
                -- names), for the report.
                ALTER TABLE deliveries ADD COLUMN tls_version TEXT;
                ALTER TABLE deliveries ADD COLUMN tls_verified INTEGER;

                -- Carried by the send log until it is applied (SalvoStore+SendLog.swift).
                ALTER TABLE send_log ADD COLUMN tls_version TEXT;
                ALTER TABLE send_log ADD COLUMN tls_verified INTEGER;
                """)
        }
    }
}
