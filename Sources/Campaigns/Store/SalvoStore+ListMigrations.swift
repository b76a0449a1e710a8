import GRDB

extension SalvoStore {
    /// The lists' migrations (named "v6-lists: …"), registered after the shared ones.
    static func registerListMigrations(in migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v6-lists: one recipient per address ignoring case") { db in
            try mergeCaseVariants(in: db)
        }
        migrator.registerMigration("v6-lists: deleted lists kept for their campaigns' history") { db in
            try db.execute(sql: """
                -- A list deleted after campaigns used it: its row and the recipients their
                -- deliveries point at stay, out of `salvo lists`, renamed to free the name.
                ALTER TABLE lists ADD COLUMN deleted_at INTEGER;
                """)
        }
        migrator.registerMigration("v8-lists: the name a deleted list had") { db in
            try db.execute(sql: """
                -- What the list was called when its campaigns' mail went out: the pages that
                -- mail links to name it so, not by its retired name.
                ALTER TABLE lists ADD COLUMN name_before_deletion TEXT;
                """)
        }
    }

    /// Gives every recipient its `address_key` (`RecipientKey`) and makes it unique per
    /// list, merging the case variants an older Salvo let in.
    ///
    /// Of the spellings of one address, the first imported stays (the lowest id, as an
    /// import keeps the first spelling now); the attributes of the later ones are merged
    /// into it in import order, a later value winning as a re-import's would. A later
    /// spelling that no campaign delivered to is deleted. One that has deliveries is
    /// kept, because those deliveries are a campaign's history and must point at a
    /// recipient, but its key is cleared: no count, segment, new campaign or export sees
    /// it again, and the address is mailed once from then on.
    static func mergeCaseVariants(in db: Database) throws {
        try db.execute(sql: """
            ALTER TABLE recipients ADD COLUMN address_key TEXT;
            UPDATE recipients SET address_key = salvo_address_key(email);
            """)
        let variants = try Row.fetchAll(db, sql: """
            SELECT r.id, r.list_id, r.address_key, r.attributes, r.updated_at,
                   EXISTS (SELECT 1 FROM deliveries d WHERE d.recipient_id = r.id) AS delivered
            FROM recipients r
            JOIN (SELECT list_id, address_key FROM recipients GROUP BY list_id, address_key HAVING COUNT(*) > 1) v
              ON v.list_id = r.list_id AND v.address_key = r.address_key
            ORDER BY r.list_id, r.address_key, r.id
            """)
        var index = 0
        while index < variants.count {
            let first = variants[index]
            let list: Int64 = first["list_id"], key: String = first["address_key"]
            var attributes: String = first["attributes"]
            var updatedAt: Int64 = first["updated_at"]
            index += 1
            while index < variants.count, variants[index]["list_id"] as Int64 == list, variants[index]["address_key"] as String == key {
                let later = variants[index]
                attributes = AttributeMerge.merge(attributes, later["attributes"])
                updatedAt = max(updatedAt, later["updated_at"])
                if later["delivered"] as Bool {
                    try db.execute(sql: "UPDATE recipients SET address_key = NULL WHERE id = ?", arguments: [later["id"] as Int64])
                } else {
                    try db.execute(sql: "DELETE FROM recipients WHERE id = ?", arguments: [later["id"] as Int64])
                }
                index += 1
            }
            try db.execute(sql: "UPDATE recipients SET attributes = ?, updated_at = ? WHERE id = ?",
                           arguments: [attributes, updatedAt, first["id"] as Int64])
        }
        try db.execute(sql: """
            -- One recipient per list and address ignoring case; NULL only for the later
            -- spellings this migration merged that campaigns' deliveries still refer to.
            CREATE UNIQUE INDEX recipients_by_address ON recipients(list_id, address_key);
            """)
    }
}
