import Foundation
import MailMessage
import Testing
@testable import Campaigns

/// Click and open tracking at render time: which links are rewritten, what the tokens
/// carry (never the address), and that the text part is left as written.
@Suite struct LinkTrackingTests {
    static let secret = Array("the link tracking tests' secret, long enough".utf8)
    static let publicURL = "https://t.shop.example"
    static let html = """
        <html><body>
        <a href="https://shop.example/a?x=1&amp;code={{code}}">A</a>
        <A HREF='http://shop.example/b'>B</A>
        <a data-notrack href="https://shop.example/keep">keep</a>
        <a class="raw" href="{{{raw}}}">raw</a>
        <a href="mailto:help@shop.example">mail</a>
        <a href="{{unsubscribe_url}}">unsubscribe</a>
        <a href="{{view_url}}">view</a>
        <!-- <a href="https://shop.example/commented">x</a> -->
        <area shape="rect" href="https://shop.example/map" alt="">
        </body></html>
        """
    static let recipient = TemplateRecipient(
        email: "Ann.Okafor+news@example.org",
        attributes: ["code": "SPRING", "raw": "https://shop.example/raw?who=Ann.Okafor+news@example.org"], id: "7", delivery: 42)

    static func composer(opens: Bool = true, clicks: Bool = true, web: Bool = true) throws -> MessageComposer {
        let template = try MessageTemplate(
            subject: TemplateSource(name: "subject", text: "Hi"),
            html: TemplateSource(name: "t.html", text: html),
            text: TemplateSource(name: "t.txt", text: "See https://shop.example/a and {{view_url}}\n"),
            unsubscribeURL: TemplateSource(name: "unsubscribe", text: "https://shop.example/u/{{unsubscribe_token}}"),
            markingRawLinks: clicks)
        var settings = CampaignMessageSettings(campaign: "spring", list: "customers", from: try Mailbox(parsing: "news@shop.example"),
                                               unsubscribeSecret: secret)
        if web { settings.web = WebLinks(publicURL: publicURL, secret: secret, opens: opens, clicks: clicks) }
        return try MessageComposer(template: template, settings: settings, signers: [])
    }

    /// Every `PREFIX/x/TOKEN` in `text`.
    static func tokens(_ text: String, path: String) -> [String] {
        text.components(separatedBy: publicURL + path).dropFirst().map { String($0.prefix { $0.isLetter || $0.isNumber || "._-".contains($0) }) }
    }

    @Test func everyHTTPLinkOfTheHTMLPartLeadsThroughTheServerInOrder() throws {
        let composer = try Self.composer()
        var generator = SystemRandomNumberGenerator()
        let message = try composer.message(for: Self.recipient, date: Date(timeIntervalSince1970: 1_800_000_000), using: &generator)
        let html = try #require(message.html)
        let clicks = Self.tokens(html, path: "/c/")
        #expect(clicks.count == 3, "\(html)")
        let targets = composer.trackableLinks(for: Self.recipient)
        #expect(targets == ["https://shop.example/a?x=1&code=SPRING", "http://shop.example/b", "https://shop.example/map"])
        let maker = TrackingToken.Maker(secret: Self.secret)
        for (position, token) in clicks.enumerated() {
            let claim = try #require(maker.read(token, kind: .click))
            #expect(claim.delivery == 42 && claim.position == position)
            #expect(maker.verify(token, claim: claim, target: targets[position]))
        }
        // Left as written: data-notrack, a raw field, mailto, the unsubscribe link, the
        // view link, a comment.
        #expect(html.contains("<a data-notrack href=\"https://shop.example/keep\">"))
        #expect(html.contains("<a data-notrack class=\"raw\" href=\"https://shop.example/raw?who=Ann.Okafor+news@example.org\">"))
        #expect(html.contains("href=\"mailto:help@shop.example\""))
        #expect(html.contains("href=\"https://shop.example/u/4."))
        #expect(html.contains("href=\"\(Self.publicURL)/v/3."))
        #expect(html.contains("<!-- <a href=\"https://shop.example/commented\">x</a> -->"))
        // The pixel, once, before </body>.
        let opens = Self.tokens(html, path: "/o/")
        #expect(opens.count == 1)
        #expect(html.contains("<img src=\"\(Self.publicURL)/o/\(opens[0])\" width=\"1\" height=\"1\" alt=\"\" style=\"display:block;border:0;width:1px;height:1px\"></body>"))
        #expect(maker.read(opens[0], kind: .open).map { maker.verify(opens[0], claim: $0, target: nil) } == true)
        // The text part is as written, its view link included.
        let text = try #require(message.text)
        #expect(text.hasPrefix("See https://shop.example/a and \(Self.publicURL)/v/3."))
        #expect(!text.contains("/c/") && !text.contains("/o/"))
        // The page (the view) has the tracked links and no pixel.
        let page = try #require(composer.html(for: Self.recipient, pixel: false))
        #expect(Self.tokens(page, path: "/c/") == clicks && !page.contains("/o/"))
    }

    /// A campaign with only an HTML part gets its text part from the HTML as written,
    /// before the links are tracked.
    @Test func aGeneratedTextPartKeepsTheLinksAsWritten() throws {
        let template = try MessageTemplate(subject: TemplateSource(name: "subject", text: "Hi"),
                                           html: TemplateSource(name: "t.html", text: "<p><a href=\"https://shop.example/a\">Deals</a></p>"), text: nil)
        var settings = CampaignMessageSettings(campaign: "spring", list: "customers", from: try Mailbox(parsing: "news@shop.example"))
        settings.web = WebLinks(publicURL: Self.publicURL, secret: Self.secret, opens: true, clicks: true)
        var generator = SystemRandomNumberGenerator()
        let message = try MessageComposer(template: template, settings: settings, signers: [])
            .message(for: Self.recipient, date: Date(timeIntervalSince1970: 1_800_000_000), using: &generator)
        #expect(message.html?.contains(Self.publicURL + "/c/") == true)
        let text = try #require(message.text)
        #expect(text.contains("https://shop.example/a") && !text.contains(Self.publicURL), "\(text)")
    }

    /// A preview or a test send is no delivery: its tokens name delivery 0, which
    /// `salvo serve` answers with the 404 page, so nobody's events are touched.
    @Test func aMessageThatIsNoDeliveryNamesNone() throws {
        var preview = Self.recipient
        preview.delivery = nil
        let html = try #require(try Self.composer().html(for: preview))
        let maker = TrackingToken.Maker(secret: Self.secret)
        let clicks = Self.tokens(html, path: "/c/"), opens = Self.tokens(html, path: "/o/")
        #expect(clicks.count == 3 && opens.count == 1)
        #expect(clicks.allSatisfy { maker.read($0, kind: .click)?.delivery == 0 })
        #expect(opens.allSatisfy { maker.read($0, kind: .open)?.delivery == 0 })
    }

    @Test func noTokenCarriesTheAddressInAnyEncoding() throws {
        let composer = try Self.composer()
        let html = try #require(composer.html(for: Self.recipient))
        let tokens = ["/c/", "/o/", "/v/"].flatMap { Self.tokens(html, path: $0) }
            + html.components(separatedBy: "https://shop.example/u/").dropFirst().map { String($0.prefix { $0 != "\"" }) }
        #expect(tokens.count == 6)
        let address = Self.recipient.email
        var forms = [address, address.lowercased(), Self.recipient.email.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!,
                     address.utf8.map { String(format: "%02x", $0) }.joined(), address.utf8.map { String(format: "%02X", $0) }.joined()]
        // Base64 at each of the three alignments, standard and URL-safe, without the
        // characters at the edges that depend on the neighbours.
        for pad in ["", "x", "xy"] {
            let encoded = Data((pad + address).utf8).base64EncodedString()
            let core = String(encoded.dropFirst(pad.isEmpty ? 0 : pad.count + 1).dropLast(3))
            forms += [core, core.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")]
        }
        for token in tokens {
            for form in forms where form.count >= 8 {
                #expect(!token.contains(form) && !token.lowercased().contains(form.lowercased()), "\(token) holds \(form)")
            }
            #expect(!token.contains("@") && !token.lowercased().contains("okafor"))
        }
    }

    @Test func withoutTrackingTheHTMLIsAsRendered() throws {
        let plain = try Self.composer(opens: false, clicks: false, web: false)
        let off = try Self.composer(opens: false, clicks: false)
        for composer in [plain, off] {
            let html = try #require(composer.html(for: Self.recipient))
            #expect(!html.contains("/c/") && !html.contains("/o/"))
            #expect(html.contains("href=\"https://shop.example/a?x=1&amp;code=SPRING\""))
            // Raw links get no mark when clicks are not tracked.
            #expect(html.contains("<a class=\"raw\""))
        }
        // Opens alone: the pixel, no link rewritten.
        let opens = try #require(try Self.composer(opens: true, clicks: false).html(for: Self.recipient))
        #expect(Self.tokens(opens, path: "/o/").count == 1 && !opens.contains("/c/"))
    }

    @Test func aTargetIsWrittenAsALocationHeaderMayCarryIt() {
        #expect(LinkTracking.locationValue("https://shop.example/a?x=1&y=%20z#top") == "https://shop.example/a?x=1&y=%20z#top")
        #expect(LinkTracking.locationValue("https://shop.example/café?q=a b\r\nSet-Cookie: x") == "https://shop.example/caf%C3%A9?q=a%20b%0D%0ASet-Cookie:%20x")
        #expect(LinkTracking.locationValue("https://a.example/\"<{x}>") == "https://a.example/%22%3C%7Bx%7D%3E")
    }

    @Test func theScannerFindsLinksInEveryAttributeSpelling() {
        let html = #"<a href=https://a.example/1>x</a><a id="q" href = "https://a.example/2" >y</a><a title='>' href='https://a.example/3'>z</a><abbr href="https://no.example">n</abbr><a href="HTTPS://A.example/4">w</a><a href="/relative">r</a>"#
        #expect(LinkTracking.links(in: html).map(\.target) == ["https://a.example/1", "https://a.example/2", "https://a.example/3", "HTTPS://A.example/4"])
        let rewritten = LinkTracking.rewrite(html, links: LinkTracking.links(in: html)) { position, _ in "T\(position)" }
        #expect(rewritten == #"<a href=T0>x</a><a id="q" href = "T1" >y</a><a title='>' href='T2'>z</a><abbr href="https://no.example">n</abbr><a href="T3">w</a><a href="/relative">r</a>"#)
        #expect(LinkTracking.markingRawLinks(in: #"<a href="{{{u}}}">a</a><a href='{{& u}}'>b</a><a href="{{u}}">c</a>"#)
                == #"<a data-notrack href="{{{u}}}">a</a><a data-notrack href='{{& u}}'>b</a><a href="{{u}}">c</a>"#)
    }
}
