import NIOSSL
import PostgresStore
import Testing

@Suite struct PostgresURLTests {
    @Test func aFullURLIsReadAsLibpqWritesIt() throws {
        let url = try PostgresURL("postgresql://salvo@db.example:6543/campaigns?sslmode=verify-full")
        #expect(url == PostgresURL(user: "salvo", host: "db.example", port: 6543, database: "campaigns", sslMode: .verifyFull))
        #expect(url.place == "db.example:6543/campaigns")
    }

    @Test func thePortDefaultsTo5432AndTheModeToPrefer() throws {
        let url = try PostgresURL("postgres://salvo@127.0.0.1/salvo")
        #expect(url.port == 5432)
        #expect(url.sslMode == .prefer)
        #expect(try PostgresURL("postgres://me@[::1]:5433/db").host == "::1")
    }

    @Test(arguments: [
        ("disable", nil), ("allow", CertificateVerification.none), ("prefer", CertificateVerification.none),
        ("require", CertificateVerification.none),
        ("verify-ca", .noHostnameVerification), ("verify-full", .fullVerification),
    ] as [(String, CertificateVerification?)])
    func everySSLModeMapsToItsCheck(mode: String, verification: CertificateVerification?) throws {
        let url = try PostgresURL("postgres://u@h/d?sslmode=\(mode)")
        #expect(url.certificateVerification == verification)
    }

    @Test func aPasswordInTheURLIsRefusedAndNeverRepeated() {
        for text in ["postgres://salvo:s3cret@db/x", "postgres://salvo@db/x?password=s3cret"] {
            let error = #expect(throws: PostgresURLError.self) { try PostgresURL(text) }
            #expect(error?.description.contains("SALVO_DB_PASSWORD") == true)
            #expect(error?.description.contains("database_password_env") == true)
            #expect(error?.description.contains("s3cret") == false, "\(String(describing: error))")
        }
    }

    @Test(arguments: [
        ("mysql://u@h/d", "postgres://"),
        ("postgres://h/d", "no user"),
        ("postgres://@h/d", "no user"),
        ("postgres://u@h", "no database"),
        ("postgres://u@h/", "no database"),
        ("postgres://u@/d", "no host"),
        ("postgres://u@h:99999/d", "bad port '99999'"),
        ("postgres://u@h:abc/d", "bad port 'abc'"),
        ("postgres://u@h/d?sslmode=always", "unknown sslmode 'always'"),
        ("postgres://u@h/d?connect_timeout=3", "unknown query key 'connect_timeout'"),
    ])
    func aMalformedURLIsNamedForWhatIsWrong(text: String, problem: String) {
        let error = #expect(throws: PostgresURLError.self) { try PostgresURL(text) }
        #expect(error?.description.contains(problem) == true, "\(String(describing: error))")
    }

    @Test func thePasswordComesFromTheVariableTheConfigurationNames() {
        let environment = ["SALVO_DB_PASSWORD": "default", "SHOP_DB_SECRET": "named"]
        #expect(PostgresURL.password(environment: environment) == "default")
        #expect(PostgresURL.password(environment: environment, passwordVariable: "SHOP_DB_SECRET") == "named")
        #expect(PostgresURL.password(environment: [:]) == nil)
    }
}
