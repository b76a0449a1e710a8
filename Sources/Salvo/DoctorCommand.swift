import ArgumentParser
import Campaigns
import Foundation

/// `salvo doctor [DOMAIN]`: the DNS a receiver checks before it trusts the mail.
struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check the DNS receivers judge a sender by: DKIM, SPF, DMARC, the bounce MX, PTR, EHLO and blocklists.",
        discussion: """
            Each line says OK, WARN or FAIL, what was found, and what to publish when it \
            is wrong. Lookups go through the system resolver, or dns.server. The sending \
            addresses are doctor.sending_ips, else this machine's public addresses; the \
            blocklists are doctor.blocklists. DOMAIN defaults to the From domain of the \
            stored campaigns, else dkim.domain. Exits 0 when nothing fails, 1 otherwise.

            Examples:
              salvo doctor
              salvo doctor shop.example
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The From domain to check (default: the stored campaigns' From domains, else dkim.domain).")
    var domain: String?

    func run() async throws {
        let report: DoctorReport
        do {
            let configuration = try global.configuration()
            let plan = try DoctorPlan.load(configuration: configuration, domain: domain, databasePath: global.databasePath(configuration))
            report = await Doctor(configuration: configuration).run(plan)
        } catch {
            printError("salvo doctor: \(error)")
            throw ExitCode(1)
        }
        print(report.text)
        if report.failed { throw ExitCode(1) }
    }
}
