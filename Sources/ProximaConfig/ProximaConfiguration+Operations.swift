import QueryEngine

/// Where log lines go (`log.target`).
public enum LogTarget: Sendable, Hashable {
    /// Standard error (the default; under systemd, stderr goes to the journal anyway).
    case stderr
    /// Appended to a file, reopened on SIGUSR1 (after logrotate moved it).
    case file(String)
    /// The systemd journal's native protocol: one datagram per entry, with MESSAGE, PRIORITY and
    /// SYSLOG_IDENTIFIER fields, sent to `socket` (default `/run/systemd/journal/socket`).
    case journald(socket: String)
}

/// How a log line is written (`log.format`).
public enum LogFormat: String, Sendable, Hashable, CaseIterable {
    /// `2026-11-30T15:00:00+0000 notice proxima : message key=value`.
    case text
    /// One JSON object per line: time, level, label, message and the metadata.
    case json
}

/// The `log` section.
public struct LogSettings: Sendable, Hashable {
    public var target: LogTarget
    /// Ignored by `journald` (its entries are structured already). Default text.
    public var format: LogFormat

    /// The journal's native socket (systemd.journal-fields(7), "native protocol").
    public static let defaultJournalSocket = "/run/systemd/journal/socket"

    public init(target: LogTarget = .stderr, format: LogFormat = .text) {
        self.target = target
        self.format = format
    }
}

/// Running as a service: single-instance lock and the account to run as (issue #11).
public struct ProcessSettings: Sendable, Hashable {
    /// The lock file `serve` holds (`flock`) so that a second `serve` with the same config refuses
    /// to start; nil: the default, `$RUNTIME_DIRECTORY/proxima.lock` under systemd, else the
    /// config's path with `.lock` appended.
    public var lockFile: String?
    /// Started as root: the user to switch to once every socket is bound (`user`); nil stays.
    public var user: String?
    /// The group to switch to (`group`); nil: the user's primary group.
    public var group: String?

    public init(lockFile: String? = nil, user: String? = nil, group: String? = nil) {
        self.lockFile = lockFile
        self.user = user
        self.group = group
    }
}

