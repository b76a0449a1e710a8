@testable import Campaigns
import SMTP
import Testing

/// The default EHLO name and the warning `send` and `run` print when it is not fully
/// qualified.
@Suite struct HeloWarningTests {
    @Test func aNameWithoutADotIsWarnedAbout() throws {
        var configuration = SalvoConfiguration()
        configuration.helo = "mailhost"
        let warning = try #require(configuration.heloWarning)
        #expect(warning.contains("'mailhost' (helo)") && warning.contains("504 5.5.2"), "\(warning)")
        configuration.helo = "mail.shop.test"
        #expect(configuration.heloWarning == nil)
        configuration.helo = nil
        #expect(configuration.heloName == HostName.fullyQualified())
        #expect((configuration.heloWarning == nil) == HostName.isFullyQualified(configuration.heloName))
    }
}
