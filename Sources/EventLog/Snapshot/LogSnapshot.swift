import Glibc

/// Derived state saved beside the log, stamped with the place in the log it stands for.
///
/// An application that folds the log into some state (a read model, a key store) saves that state now and then,
/// so that a start reads only the log after it. The log does not interpret the payload; it keeps the container:
/// which state it is (`kind`, also the file name `KIND.snapshot`), the payload's format version, the offset below
/// which every record is reflected, the chain hash of the batch that ends there, and a checksum over all of it.
/// `docs/SNAPSHOTS.md` describes the bytes.
///
/// A snapshot is derived: it is never trusted over the log. ``load(kind:version:directory:positioning:)``
/// accepts it only when its checksum holds, its version is the one asked for, and the log has a batch ending at
/// its offset whose hash is the one stamped in it (so it was made from this log, and from no other history).
/// Anything else is a reason to rebuild, which the caller is told in words.
public struct LogSnapshot: Sendable, Equatable {
    /// Which derived state this is: letters, digits, `-` and `_`, 1 to 64 of them; the file is `KIND.snapshot`.
    public var kind: String
    /// The payload's format version, the application's own: a snapshot of another version is rebuilt.
    public var version: UInt32
    /// Every record below this offset is reflected in the payload, and none at or above it need be.
    public var offset: UInt64
    /// The chain hash of the batch that ends at `offset` (``ChainHash/genesis`` for 0).
    public var chainHash: ChainHash
    /// When it was written, in milliseconds since the Unix epoch (for people; not checked).
    public var createdAtMillis: Int64
    /// The application's bytes.
    public var payload: [UInt8]

    public init(kind: String, version: UInt32, offset: UInt64, chainHash: ChainHash, createdAtMillis: Int64, payload: [UInt8]) {
        self.kind = kind
        self.version = version
        self.offset = offset
        self.chainHash = chainHash
        self.createdAtMillis = createdAtMillis
        self.payload = payload
    }

    /// What looking for a snapshot found.
    public enum Load: Sendable {
        /// A snapshot that stands for this log at its offset; the reader is positioned there.
        case loaded(LogSnapshot)
        /// There is none (a first start, or it was removed).
        case missing
        /// There is one, but it cannot be used; `reason` says why, in words for an operator.
        case rejected(reason: String)
    }

    static let fileSuffix = ".snapshot"
    private static let magic: UInt32 = 0x5353_4E52  // "RNSS"
    private static let containerVersion: UInt16 = 1
    private static let fixedLength = 68
    private static let checksumLength = 32
    /// The largest payload read back: far beyond a bounded read model, small enough to refuse nonsense.
    public static let maximumPayloadBytes = 1 << 30

    /// Whether `kind` can name a snapshot file.
    public static func isValidKind(_ kind: String) -> Bool {
        (1...64).contains(kind.utf8.count)
            && kind.utf8.allSatisfy { byte in
                (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
                    || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
            }
    }

    /// The path of the snapshot of `kind` in the log `directory`.
    public static func path(kind: String, directory: String) -> String {
        directory + "/" + kind + fileSuffix
    }

    /// The snapshot's bytes, as stored.
    package func encoded() -> [UInt8] {
        precondition(Self.isValidKind(kind), "a snapshot kind is 1 to 64 letters, digits, - or _")
        var out: [UInt8] = []
        out.reserveCapacity(Self.fixedLength + kind.utf8.count + payload.count + Self.checksumLength)
        out.appendLE(Self.magic)
        out.appendLE(Self.containerVersion)
        out.appendLE(UInt16(kind.utf8.count))
        out.appendLE(version)
        out.appendLE(offset)
        out.appendLE(UInt64(bitPattern: createdAtMillis))
        out.append(contentsOf: chainHash.bytes)
        out.appendLE(UInt64(payload.count))
        out.append(contentsOf: kind.utf8)
        out.append(contentsOf: payload)
        let checksum = out.withUnsafeBytes { Blake2b.hash($0, length: Self.checksumLength) }
        out.append(contentsOf: checksum)
        return out
    }

    /// Reads stored bytes back; the reason in words when they are not a whole, intact snapshot.
    package static func decode(_ bytes: [UInt8]) -> Result<LogSnapshot, DecodeFailure> {
        guard bytes.count >= fixedLength + checksumLength else {
            return .failure(DecodeFailure("it is \(bytes.count) bytes long, shorter than any snapshot"))
        }
        return bytes.withUnsafeBytes { raw -> Result<LogSnapshot, DecodeFailure> in
            guard raw.loadLE(UInt32.self, at: 0) == magic else { return .failure(DecodeFailure("it does not start with RNSS")) }
            let body = UnsafeRawBufferPointer(rebasing: raw[0..<raw.count - checksumLength])
            guard Blake2b.hash(body, length: checksumLength).elementsEqual(raw[(raw.count - checksumLength)...]) else {
                return .failure(DecodeFailure("its checksum does not match (damaged or cut short)"))
            }
            let container = raw.loadLE(UInt16.self, at: 4)
            guard container == containerVersion else {
                return .failure(DecodeFailure("its container version is \(container), this program reads \(containerVersion)"))
            }
            let kindLength = Int(raw.loadLE(UInt16.self, at: 6))
            let payloadLength = raw.loadLE(UInt64.self, at: 60)
            guard payloadLength <= UInt64(maximumPayloadBytes),
                fixedLength + kindLength + Int(payloadLength) == body.count
            else { return .failure(DecodeFailure("its lengths do not add up to its size")) }
            let kind = String(decoding: raw[fixedLength..<fixedLength + kindLength], as: UTF8.self)
            let payloadStart = fixedLength + kindLength
            return .success(
                LogSnapshot(
                    kind: kind, version: raw.loadLE(UInt32.self, at: 8), offset: raw.loadLE(UInt64.self, at: 12),
                    chainHash: ChainHash(UnsafeRawBufferPointer(rebasing: raw[28..<60])),
                    createdAtMillis: Int64(bitPattern: raw.loadLE(UInt64.self, at: 20)),
                    payload: Array(raw[payloadStart..<payloadStart + Int(payloadLength)])))
        }
    }

    package struct DecodeFailure: Error {
        package var reason: String
        init(_ reason: String) { self.reason = reason }
    }

    /// Writes `snapshot` into the log `directory`, atomically: a temporary file is written and synced, renamed
    /// over the old snapshot, and the directory synced. A crash leaves the old snapshot or the new one, whole
    /// (and perhaps a `.tmp` file, which the next write replaces).
    ///
    /// - Throws: ``LogError`` (`.diskFull`, `.ioFailure`) naming the file; the old snapshot is then still there.
    public static func write(_ snapshot: LogSnapshot, directory: String) throws {
        let path = Self.path(kind: snapshot.kind, directory: directory)
        let temporary = path + ".tmp"
        let bytes = snapshot.encoded()
        let fd: Int32
        switch FileSystem.open(temporary, flags: O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode: 0o640) {
        case .success(let value): fd = value
        case .failure(let error): throw LogError.io("create a snapshot", temporary, error)
        }
        var result = bytes.withUnsafeBytes { FileSystem.writeAll(fd, $0, at: 0) }.flatMap { FileSystem.dataSync(fd) }
        FileSystem.close(fd)
        result = result.flatMap { FileSystem.rename(temporary, path) }.flatMap { FileSystem.syncDirectory(directory) }
        if case .failure(let error) = result {
            _ = FileSystem.unlink(temporary)
            if error.isOutOfSpace { throw LogError.diskFull(temporary, error) }
            throw LogError.io("write a snapshot", path, error)
        }
    }

    /// Finds the snapshot of `kind` in the log that `reader` reads and checks it against that log; when it is
    /// accepted, `reader` is left positioned at its offset, so that what follows it is read next.
    ///
    /// Rejected, with the reason: a damaged or cut-short file, another kind or version, an offset beyond the end
    /// of the log (a log restored from an older copy), before its start, inside a batch, or a chain hash that is
    /// not the log's at that offset (a snapshot from another log, or from a history since rewritten).
    /// - Throws: ``LogError`` only when the log cannot be read where the snapshot points.
    public static func load(kind: String, version: UInt32, directory: String, positioning reader: LogReader) throws -> Load {
        let path = Self.path(kind: kind, directory: directory)
        let bytes: [UInt8]
        switch FileSystem.readWholeFile(path) {
        case .success(let value): bytes = value
        case .failure(let error) where error.code == ENOENT: return .missing
        case .failure(let error): return .rejected(reason: "\(path) cannot be read (\(error))")
        }
        let snapshot: LogSnapshot
        switch decode(bytes) {
        case .success(let value): snapshot = value
        case .failure(let failure): return .rejected(reason: "\(path) is damaged: \(failure.reason)")
        }
        guard snapshot.kind == kind else {
            return .rejected(reason: "\(path) holds a snapshot of \"\(snapshot.kind)\", not of \"\(kind)\"")
        }
        guard snapshot.version == version else {
            return .rejected(reason: "\(path) is of version \(snapshot.version); this program writes version \(version)")
        }
        switch check(snapshot, reader: reader) {
        case nil: return .loaded(snapshot)
        case let reason?: return .rejected(reason: "\(path) does not stand for this log: \(reason)")
        }
    }

    /// Why `snapshot` does not stand for the log `reader` reads, or nil when it does (the reader is then
    /// positioned at its offset).
    static func check(_ snapshot: LogSnapshot, reader: LogReader) -> String? {
        let hash: ChainHash?
        do {
            hash = try reader.chainHash(at: snapshot.offset)
        } catch let error as LogError where error.code == .offsetOutOfRange {
            return "it stands for offset \(snapshot.offset), outside the log (\(error.message))"
        } catch {
            return "the log cannot be read at offset \(snapshot.offset) (\(error))"
        }
        guard let hash else {
            return "no batch of the log ends at its offset \(snapshot.offset): the offset is inside a batch, or beyond the log's end (a log restored from an older copy)"
        }
        guard hash == snapshot.chainHash else {
            return "the log's chain hash at offset \(snapshot.offset) is \(hash), the snapshot's \(snapshot.chainHash)"
        }
        return nil
    }

    /// What a snapshot in a log directory stands for, as ``standing(directory:)`` found it.
    public struct Standing: Sendable {
        /// Its kind (the file is `KIND.snapshot`).
        public var kind: String
        /// The offset it stands for, when it matches the log (a batch of the log ends there with its hash).
        public var offset: UInt64?
        /// Why it does not match the log, when it does not.
        public var reason: String?
    }

    /// Every snapshot in `directory` (of any kind and version) and whether it stands for the log there, checked
    /// as ``load(kind:version:directory:positioning:)`` checks it. For removing old segments: a start that
    /// loads a snapshot reads the log from its offset, so no segment at or after that offset may go.
    public static func standing(directory: String) -> [Standing] {
        kinds(in: directory).map { kind in
            let path = Self.path(kind: kind, directory: directory)
            let snapshot: LogSnapshot
            switch FileSystem.readWholeFile(path).map(decode) {
            case .success(.success(let value)): snapshot = value
            case .success(.failure(let failure)): return Standing(kind: kind, reason: "\(path) is damaged: \(failure.reason)")
            case .failure(let error): return Standing(kind: kind, reason: "\(path) cannot be read (\(error))")
            }
            guard let reader = try? LogReader(directory: directory) else {
                return Standing(kind: kind, reason: "the log cannot be read")
            }
            if let reason = check(snapshot, reader: reader) { return Standing(kind: kind, reason: reason) }
            return Standing(kind: kind, offset: snapshot.offset)
        }
    }

    /// The snapshot files in a log directory, by kind.
    package static func kinds(in directory: String) -> [String] {
        guard case .success(let names) = FileSystem.listDirectory(directory) else { return [] }
        return names.filter { $0.hasSuffix(fileSuffix) }.map { String($0.dropLast(fileSuffix.count)) }.sorted()
    }
}
