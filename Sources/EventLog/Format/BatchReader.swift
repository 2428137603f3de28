/// What is found at one position of a segment.
package enum BatchAtPosition {
    /// A whole batch whose header checksum (and, when asked, chain hash) holds. `payload` is empty unless the
    /// payload was asked for; it is valid until the next read.
    case batch(BatchHeader, payload: UnsafeRawBufferPointer)
    /// The file ends exactly here.
    case end
    /// The file ends inside this batch.
    case incomplete(String)
    /// The bytes here are not a valid batch: no valid header, or a batch whose hash does not match.
    case damaged(String)
    /// A header whose checksum holds but that this version cannot use (another format version, a field out of
    /// range): written whole by some writer, so never a torn write, always damage to report.
    case unusable(String)
}

extension BufferedFileReader {
    /// Decodes the batch at `position` of a segment whose readable size is `fileSize`.
    ///
    /// - Parameters:
    ///   - loadPayload: return the LZ4 frame bytes too.
    ///   - verifyHash: recompute the chain hash over header and payload (implies reading the payload).
    package func batch(
        at position: Int64, fileSize: Int64, loadPayload: Bool, verifyHash: Bool
    ) -> Result<BatchAtPosition, SystemError> {
        let remaining = fileSize - position
        if remaining == 0 { return .success(.end) }
        if remaining < Int64(BatchFormat.framedHeaderLength) {
            return .success(.incomplete("\(remaining) bytes left, less than a batch header"))
        }
        let header: BatchHeader
        switch bytes(at: position, count: BatchFormat.framedHeaderLength) {
        case .failure(let error): return .failure(error)
        case .success(let raw):
            guard raw.count == BatchFormat.framedHeaderLength else {
                return .success(.incomplete("file shrank while reading"))
            }
            switch BatchFormat.decodeHeader(raw) {
            case .failure(let problem) where problem.checksumHeld: return .success(.unusable(problem.description))
            case .failure(let problem): return .success(.damaged(problem.description))
            case .success(let decoded): header = decoded
            }
        }
        let length = header.totalLength
        if remaining < Int64(length) {
            return .success(.incomplete("batch of \(length) bytes, only \(remaining) bytes left in the file"))
        }
        guard loadPayload || verifyHash else { return .success(.batch(header, payload: UnsafeRawBufferPointer(start: nil, count: 0))) }
        // Read header and payload as one range so both stay valid together in the window.
        switch bytes(at: position, count: length) {
        case .failure(let error): return .failure(error)
        case .success(let whole):
            guard whole.count == length else { return .success(.incomplete("file shrank while reading")) }
            let headerBytes = UnsafeRawBufferPointer(rebasing: whole[8..<BatchFormat.framedHeaderLength])
            let payload = UnsafeRawBufferPointer(rebasing: whole[BatchFormat.framedHeaderLength..<length])
            if verifyHash, BatchFormat.chainHash(header: headerBytes, payload: payload) != header.hash {
                return .success(.damaged("batch hash does not match its contents"))
            }
            return .success(.batch(header, payload: payload))
        }
    }

    /// True when a later write group starts anywhere in `(position, fileSize)`: a valid header without the
    /// continues-the-group flag whose payload is all there and matches its hash, or a header whose checksum
    /// holds but that this version cannot use.
    ///
    /// Used only after damage was found, to tell the leftovers of a crash from damage in the middle of the log.
    /// A crash leaves at most the last write group unfinished, and the pages of its one `pwrite` may reach the
    /// disk in any order: a torn batch may be followed by garbage, zeros, a header whose payload never arrived,
    /// or whole batches of the same group (flagged as continuing it), none of it acknowledged. A whole batch
    /// that starts a group was written after the damaged group was synced, so the damage is no tail. A random
    /// match needs the 4-byte magic, the size word and an 8-byte BLAKE2b checksum to line up, which data does
    /// not do by chance.
    package func writeGroupStartExists(after position: Int64, fileSize: Int64) -> Result<Bool, SystemError> {
        let magic = BatchFormat.headerMagic.littleEndianBytes
        let framed = Int64(BatchFormat.framedHeaderLength)
        var candidate = position + 1
        while candidate + framed <= fileSize {
            let chunkLength = Int(min(Int64(1 << 20), fileSize - candidate))
            let found: Int64?
            switch bytes(at: candidate, count: chunkLength) {
            case .failure(let error): return .failure(error)
            case .success(let chunk):
                guard chunk.count >= 4 else { return .success(false) }
                let index = (0...(chunk.count - 4)).first { i in
                    chunk[i] == magic[0] && chunk[i + 1] == magic[1] && chunk[i + 2] == magic[2]
                        && chunk[i + 3] == magic[3]
                }
                found = index.map { candidate + Int64($0) }
                // Keep 3 bytes of overlap so a magic split across two chunks is still seen.
                if found == nil { candidate += Int64(chunk.count - 3) }
            }
            guard let at = found else { continue }
            // (The chunk is gone now: `batch(at:)` reads through the same window.)
            switch batch(at: at, fileSize: fileSize, loadPayload: false, verifyHash: true) {
            case .failure(let error): return .failure(error)
            case .success(.batch(let header, _)) where !header.continuesWriteGroup: return .success(true)
            case .success(.unusable): return .success(true)
            case .success(.batch), .success(.end), .success(.incomplete), .success(.damaged): break
            }
            candidate = at + 1
        }
        return .success(false)
    }
}

extension FixedWidthInteger {
    fileprivate var littleEndianBytes: [UInt8] {
        withUnsafeBytes(of: self.littleEndian) { Array($0) }
    }
}
