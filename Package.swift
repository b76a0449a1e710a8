// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Salvo",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "salvo", targets: ["Salvo"]),
        .library(name: "SMTP", targets: ["SMTP"]),
        .library(name: "SMTPServer", targets: ["SMTPServer"]),
        .library(name: "MailMessage", targets: ["MailMessage"]),
        .library(name: "Delivery", targets: ["Delivery"]),
        .library(name: "Campaigns", targets: ["Campaigns"]),
        .library(name: "Web", targets: ["Web"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        // What the mail protocol clients share (SMTP here, the POP3 bounce reader):
        // the reply deadline and the description of a failed connect.
        .target(
            name: "MailClientSupport",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // The client side of RFC 5321 only.
        .target(
            name: "SMTP",
            dependencies: [
                "MailClientSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The capture server behind `salvo sink` and `salvo demo`.
        .target(
            name: "SMTPServer",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        .target(
            name: "MailMessage",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ]
        ),
        // Pure parsers of what comes back to a sender: MIME entities, delivery status
        // notifications (RFC 3464) and abuse feedback reports (RFC 5965). No store, no I/O.
        .target(name: "MailReports"),
        // The POP3 client that reads bounce mailboxes: a pure session state machine and a
        // thin NIO layer over TLS.
        .target(
            name: "POP3",
            dependencies: [
                "MailClientSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // The system resolver (libresolv): MX, A and AAAA lookups without a DNS parser of our own.
        .systemLibrary(name: "CResolv", path: "Sources/CResolv"),
        .target(
            name: "Delivery",
            dependencies: [
                "SMTP",
                "CResolv",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "Campaigns",
            dependencies: [
                "Delivery",
                "SMTP",
                "MailMessage",
                "MailReports",
                "POP3",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        // The engine's store (`DeliveryStore`, `SharedLimits`) and what sending a campaign
        // asks besides (`CampaignSendingStore`) on PostgreSQL, for several hosts sending one
        // campaign from one database: claims with FOR UPDATE SKIP LOCKED.
        .target(
            name: "PostgresStore",
            dependencies: [
                "Campaigns",
                "Delivery",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                // ConnectionPoolError: the pool's own errors (`PostgresStoreError.isServerGone`).
                .product(name: "_ConnectionPoolModule", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // `salvo db copy`: a whole database between the SQLite store and PostgreSQL, either
        // way, in one snapshot, verified by counts.
        .target(
            name: "StoreCopy",
            dependencies: [
                "Campaigns",
                "Delivery",
                "PostgresStore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // `salvo serve`: the pages and endpoints the links in sent mail lead to
        // (one-click unsubscribe), over Hummingbird.
        .target(
            name: "Web",
            dependencies: [
                "Campaigns",
                "MailMessage",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "Salvo",
            dependencies: [
                "SMTP",
                "SMTPServer",
                "MailMessage",
                "Delivery",
                "Campaigns",
                "PostgresStore",
                "StoreCopy",
                "Web",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Starts the real servers the tests talk to (smtp-sink, aiosmtpd, dnsmasq) on
        // loopback and stops them; shared by every test target that needs a peer.
        .target(name: "TestPeers", path: "Tests/TestPeers"),
        // The rules every DeliveryStore keeps, as one suite a store's tests run
        // (DeliveryStoreContract), and InMemoryDeliveryStore, which keeps them without a
        // database, for the engine's tests.
        .target(name: "StoreContract", dependencies: ["Delivery"], path: "Tests/StoreContract"),
        .testTarget(name: "StoreContractTests", dependencies: ["StoreContract", "Delivery"]),
        .testTarget(name: "SMTPTests", dependencies: ["SMTP", "TestPeers", .product(name: "NIOPosix", package: "swift-nio")]),
        .testTarget(name: "SMTPServerTests", dependencies: ["SMTPServer", "TestPeers"]),
        .testTarget(name: "MailMessageTests", dependencies: ["MailMessage", "TestPeers"]),
        // The real DSNs and the ARF complaint in Tests/CampaignsTests/Fixtures/bounces,
        // read with Campaigns' own mbox and Maildir readers (the bytes the importer sees),
        // for the parser's tests and the importer's.
        .target(name: "BounceFixtures", dependencies: ["Campaigns", "MailReports", "TestPeers"], path: "Tests/BounceFixtures"),
        .testTarget(name: "MailReportsTests", dependencies: ["MailReports", "BounceFixtures"]),
        .testTarget(name: "POP3Tests", dependencies: [
            "POP3", "TestPeers",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        .testTarget(name: "DeliveryTests", dependencies: ["Delivery", "TestPeers", "StoreContract"]),
        // PostgresStore against a private PostgreSQL server (TestPeers.PostgresServer).
        .testTarget(name: "PostgresStoreTests", dependencies: [
            "PostgresStore", "Campaigns", "StoreCopy", "Delivery", "SMTP", "StoreContract", "TestPeers",
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        ]),
        // Fixtures/ is read from the source tree (TestPeers.repositoryRoot), not bundled.
        .testTarget(name: "CampaignsTests", dependencies: [
            "Campaigns", "MailReports", "TestPeers", "StoreContract", "BounceFixtures", "PostgresStore", "StoreCopy",
        ], exclude: ["Fixtures"]),
        .testTarget(name: "SalvoTests", dependencies: [
            "Campaigns", "MailMessage", "MailReports", "TestPeers", .product(name: "GRDB", package: "GRDB.swift"),
        ]),
        .testTarget(name: "WebTests", dependencies: [
            "Web", "Campaigns", "MailMessage", "TestPeers", "PostgresStore", "StoreCopy",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
    ]
)
