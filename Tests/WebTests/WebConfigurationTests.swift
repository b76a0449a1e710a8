import Campaigns
import Testing

@Suite struct WebConfigurationTests {
    func load(_ text: String) throws -> SalvoConfiguration {
        try SalvoConfiguration(yaml: YAMLValue.parse(text, file: "/etc/salvo/salvo.yml"))
    }

    @Test func readsTheWebSection() throws {
        let config = try load("""
            web:
              listen: "[::1]:9090"
              public_url: https://shop.example/mail/
            """)
        #expect(config.web.listen == SalvoConfiguration.Endpoint(host: "::1", port: 9090))
        #expect(config.web.publicURL == "https://shop.example/mail")
    }

    @Test func listensOnLoopbackByDefault() throws {
        let config = try load("database: salvo.db\n")
        #expect(config.web.listen == SalvoConfiguration.Endpoint(host: "127.0.0.1", port: 8080))
        #expect(config.web.publicURL == nil)
        #expect(try load("web:\n  listen: 127.0.0.1\n").web.listen.port == 8080)
    }

    @Test func badValuesNameTheFileLineAndKey() throws {
        for (text, expected) in [
            ("web:\n  public_url: ftp://shop.example\n", "salvo.yml:2: web.public_url: expected an http(s) URL"),
            ("web:\n  public_url: https://shop.example/?a=b\n", "salvo.yml:2: web.public_url"),
            ("web:\n  listen: \"127.0.0.1:notaport\"\n", "salvo.yml:2: web.listen: expected host or host:port"),
            ("web:\n  port: 80\n", "salvo.yml:2"),
        ] {
            #expect {
                try load(text)
            } throws: { error in
                "\(error)".contains(expected)
            }
        }
    }
}
