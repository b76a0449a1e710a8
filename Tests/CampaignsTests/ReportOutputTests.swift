@testable import Campaigns
import Foundation
import Testing

@Suite struct ReportOutputTests {
    private let row = DeliveryReportRow(email: "=HYPERLINK(\"x\")@example.com", status: "bounced", attempts: 2, smtpCode: 550,
                                        enhancedCode: "5.1.1", response: "-user unknown", mxHost: "@mx", messageID: "+id",
                                        firstAttemptAt: Date(timeIntervalSince1970: 1_764_579_600),
                                        lastAttemptAt: Date(timeIntervalSince1970: 1_764_579_661),
                                        tlsVersion: "TLSv1.3", tlsVerified: false)

    @Test func csvDefusesFormulas() {
        #expect(DeliveryReportCSV.line(row)
                == #""'=HYPERLINK(""x"")@example.com",bounced,2,550,5.1.1,'-user unknown,'@mx,'+id,2025-12-01T09:00:00Z,2025-12-01T09:01:01Z,TLSv1.3,false,,,,"#)
        // The first human open and click, when tracked.
        var tracked = row
        tracked.openedAt = Date(timeIntervalSince1970: 1_764_580_000)
        tracked.clickedAt = Date(timeIntervalSince1970: 1_764_580_060)
        #expect(DeliveryReportCSV.line(tracked).hasSuffix(",2025-12-01T09:06:40Z,2025-12-01T09:07:40Z,,"))
        var suppressed = row
        suppressed.suppressedBy = "list"
        #expect(DeliveryReportCSV.line(suppressed).hasSuffix(",list"))
        for cell in ["\tx", "\rx", "=1", "+1", "-1", "@a"] { #expect(DeliveryReportCSV.defused(cell) == "'" + cell) }
        for cell in ["", "a=b", "1", " =x"] { #expect(DeliveryReportCSV.defused(cell) == cell) }
    }

    /// JSON keeps the values as they are (JSON is not run by spreadsheets) and parses.
    @Test func jsonIsOneObjectPerRowWithTheCSVKeys() throws {
        var plain = row
        plain.email = "a\"b\\c\u{1}@example.com"
        plain.smtpCode = nil
        plain.lastAttemptAt = nil
        plain.tlsVersion = nil
        plain.tlsVerified = nil
        var data = Data()
        DeliveryReportJSON.write([row, plain]) { data.append($0) }
        let objects = try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        #expect(objects.count == 2)
        #expect(objects[0]["email"] as? String == row.email)
        #expect(objects[0]["smtp_code"] as? Int == 550)
        #expect(objects[0]["first_attempt_at"] as? String == "2025-12-01T09:00:00Z")
        #expect(objects[1]["email"] as? String == plain.email)
        #expect(objects[1]["smtp_code"] is NSNull)
        #expect(objects[1]["last_attempt_at"] is NSNull)
        #expect(objects[0]["tls"] as? String == "TLSv1.3")
        #expect(objects[0]["tls_verified"] as? Bool == false)
        #expect(objects[1]["tls"] is NSNull && objects[1]["tls_verified"] is NSNull)
        #expect(objects[0]["opened_at"] is NSNull && objects[0]["clicked_at"] is NSNull)
        #expect(Set(objects[0].keys) == Set(DeliveryReportCSV.header.split(separator: ",").map(String.init)))
        var empty = Data()
        DeliveryReportJSON.write([]) { empty.append($0) }
        #expect(String(decoding: empty, as: UTF8.self) == "[]\n")
    }
}
