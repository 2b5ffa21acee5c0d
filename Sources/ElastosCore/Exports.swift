// The wire vocabulary (actions, capsule protocol frames) is part of the core's API.
@_exported public import CapsuleWire
