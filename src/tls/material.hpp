#pragma once

// Reading TLS material from files: PEM certificates, a private key (with a permission check),
// CRLs from a file or a directory. Each function returns the objects, or nullopt with `error`
// set to a one-line reason (the caller adds which option and file it was).

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "tls/openssl_ptr.hpp"

namespace egress::tls {

/// Every certificate in a PEM file, in file order. Error when the file cannot be read, holds a
/// broken PEM block, or holds no certificate at all.
std::optional<std::vector<X509Ptr>> load_certificates(const std::filesystem::path& file,
                                                      std::string& error);

/// The private key of a PEM file. Refuses a file readable by group or others unless
/// `allow_insecure_permissions`, and refuses encrypted keys (there is no passphrase source; the
/// daemon must never prompt). The file's bytes are wiped from memory after parsing.
std::optional<EvpPkeyPtr> load_private_key(const std::filesystem::path& file,
                                           bool allow_insecure_permissions, std::string& error);

/// Every CRL of a PEM file, or of every regular, non-hidden file of a directory (name order;
/// each must hold at least one CRL). Error when nothing can be read or a block is broken.
std::optional<std::vector<X509CrlPtr>> load_crls(const std::filesystem::path& file_or_dir,
                                                 std::string& error);

}  // namespace egress::tls
