package intercom

import "slices"

// SupportedVersions are the Intercom API versions the exporter is tested
// against, each with the project's copy of its official description
// (docs/intercom.md). Another version works as far as it answers alike,
// and starts with a warning.
var SupportedVersions = []string{"2.10", "2.11", "2.12", "2.13", "2.14", "2.15", "2.16"}

// VersionSupported reports whether version is one of SupportedVersions.
func VersionSupported(version string) bool { return slices.Contains(SupportedVersions, version) }
