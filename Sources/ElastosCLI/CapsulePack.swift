import ArgumentParser
import ElastosCapsule
import ElastosCore
import Foundation

struct CapsulePack: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pack",
        abstract: "Compute a capsule directory's CID, and optionally write its (unsigned) package.",
        discussion: """
            Packing is deterministic: the same files and names give the same CID and the same package \
            bytes, whatever the file modes, owners or times. Only regular files and directories are \
            packed; symlinks, devices, FIFOs and sockets are refused, as are names that are not UTF-8. \
            Prints the CID (CIDv1, the same multihash as 'ipfs add -r' gives as Qm…).
            """
    )

    @Argument(help: ArgumentHelp("The capsule directory.", valueName: "dir")) var directory: String
    @Option(help: ArgumentHelp("Write the unsigned package (CARv1) to this file.", valueName: "file")) var out: String?

    func run() throws {
        let package = try capsuleStep { () throws(CapsuleError) in try CapsulePackage(directory: directory) }
        if let out {
            try capsuleStep { () throws(CapsuleError) in try package.write(to: out) }
            note("wrote the unsigned package to \(out); sign it with 'elastos capsule sign \(out)'")
        }
        print(package.cid)
    }
}
