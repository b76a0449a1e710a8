import Foundation

/// What `salvo init` writes: a configuration, a campaign, its two templates and a small
/// list, all pointing at a capture server on this machine so nothing leaves it.
public enum StarterProject {
    public static let files: [(path: String, contents: String)] = [
        ("salvo.yml", configuration),
        ("welcome.yml", campaign),
        ("templates/welcome.html.mustache", html),
        ("templates/welcome.txt.mustache", text),
        ("recipients.csv", recipients),
    ]

    /// The file `salvo.yml` names in `unsubscribe.secret_file`.
    public static let secretFile = "unsubscribe.secret"

    /// Writes the starter files into `directory`, refusing to replace any that exist, and
    /// a new unsubscribe secret drawn from `generator` into `unsubscribe.secret`, readable
    /// by its owner only. Returns the paths written.
    public static func write(to directory: String, using generator: inout some RandomNumberGenerator) throws -> [String] {
        let manager = FileManager.default
        let secret = (path: secretFile, contents: SalvoConfiguration.newSecret(using: &generator) + "\n")
        let all = files + [secret]
        let targets = all.map { (directory as NSString).appendingPathComponent($0.path) }
        if let existing = targets.first(where: { manager.fileExists(atPath: $0) }) {
            throw StarterProjectError.exists(existing)
        }
        for (file, target) in zip(all, targets) {
            try manager.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            if file.path == secretFile {
                // Created 0600 before a byte is written, so the secret is never readable by others.
                let fd = open(target, O_WRONLY | O_CREAT | O_EXCL, 0o600)
                guard fd >= 0 else { throw StarterProjectError.cannotWrite(target) }
                let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
                try handle.write(contentsOf: Data(file.contents.utf8))
                try handle.close()
            } else {
                try file.contents.write(toFile: target, atomically: true, encoding: .utf8)
            }
        }
        return targets
    }

    /// `write(to:using:)` with the system's random numbers.
    public static func write(to directory: String) throws -> [String] {
        var generator = SystemRandomNumberGenerator()
        return try write(to: directory, using: &generator)
    }

    static let configuration = """
        # Salvo's configuration. Every section is optional; see README.md for all keys.
        database: salvo.db
        # helo: mail.example.com          # EHLO name; defaults to this host's fully-qualified name

        delivery:
          mode: mx                        # mx: straight to each domain's MX | relay: through delivery.relay
          # relay:
          #   host: smtp.provider.example
          #   port: 587
          #   tls: starttls               # starttls | implicit | none
          #   username: news@example.com
          #   password_env: SALVO_SMTP_PASSWORD
          routes:
            "*": 127.0.0.1:2525           # try everything against `salvo sink` first; remove to send for real
          tls: opportunistic

        # dkim:                           # one key, or a list of keys (RSA and Ed25519: two signatures)
        #   domain: example.com
        #   selector: s1
        #   key: keys/s1.pem              # make one with `salvo dkim keygen`

        retry:
          intervals: [15m]
          max_age: 4h

        limits:
          default: { connections: 5, messages_per_connection: 100, recipients_per_transaction: 50 }

        unsubscribe:
          secret_file: unsubscribe.secret # the HMAC key of unsubscribe links (salvo init made it; keep it, mode 0600)
          # secret_env: SALVO_UNSUBSCRIBE_SECRET   # read first when set

        # quota:
        #   per_day: 5000                 # messages handed to servers per UTC day
        # verp: true                      # MAIL FROM bounces+ID-TAG@<From domain>, for `salvo bounces import`

        """

    static let campaign = """
        name: welcome
        list: customers
        segment: tags contains "new"
        from: "Example Shop <news@example.com>"
        subject: "Welcome, {{first_name}}"
        html: templates/welcome.html.mustache
        text: templates/welcome.txt.mustache
        unsubscribe: "https://example.com/u/{{unsubscribe_token}}"

        """

    static let html = """
        <!doctype html>
        <html>
          <body style="font-family: sans-serif">
            <h1>Welcome, {{first_name}}!</h1>
            <p>Thanks for joining us{{#country}} from {{country}}{{/country}}.</p>
            <p style="font-size: 12px"><a href="{{unsubscribe_url}}">Unsubscribe</a></p>
          </body>
        </html>

        """

    static let text = """
        Welcome, {{first_name}}!

        Thanks for joining us{{#country}} from {{country}}{{/country}}.

        Unsubscribe: {{unsubscribe_url}}

        """

    static let recipients = """
        email,first_name,last_name,country,tags
        ada.okafor@example.com,Ada,Okafor,NG,new;food
        kwame.mensah@example.net,Kwame,Mensah,GH,new
        lea.dubois@example.org,Léa,Dubois,FR,books
        "o'brien.sean@example.com",Sean,O'Brien,IE,new;sports
        yuki.tanaka@example.net,Yuki,Tanaka,JP,"tech;new"
        grace.eze@example.org,Grace,Eze,NG,fashion

        """
}

public enum StarterProjectError: Error, CustomStringConvertible {
    case exists(String)
    case cannotWrite(String)
    public var description: String {
        switch self {
        case .exists(let path): "\(path) exists already; salvo init never overwrites a file (choose another DIR)"
        case .cannotWrite(let path): "cannot write \(path)"
        }
    }
}
