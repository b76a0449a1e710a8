import ArgumentParser

/// The `salvo` command line. Each subcommand parses its arguments, calls the library
/// targets and prints; the logic lives in the libraries where tests can reach it.
@main
struct SalvoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "salvo",
        abstract: "Bulk campaign sender: import lists, pick a segment, send personalised mail over SMTP.",
        version: "0.1.0",
        subcommands: [
            InitCommand.self,
            ImportCommand.self,
            ListsCommand.self,
            RecipientsCommand.self,
            SegmentCommand.self,
            CampaignCommand.self,
            PreviewCommand.self,
            SendCommand.self,
            ScheduleCommand.self,
            RunCommand.self,
            PauseCommand.self,
            ResumeCommand.self,
            CancelCommand.self,
            StatusCommand.self,
            ReportCommand.self,
            SuppressCommand.self,
            BouncesCommand.self,
            DKIMCommand.self,
            CheckSMTPCommand.self,
            DoctorCommand.self,
            SinkCommand.self,
            DemoCommand.self,
            BenchSMTPCommand.self,
            BenchComposeCommand.self,
            ServeCommand.self,
            BenchTokensCommand.self,
            DatabaseCommand.self,
        ]
    )
}
