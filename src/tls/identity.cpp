#include "tls/identity.hpp"

#include <array>
#include <string>
#include <vector>

#include <openssl/asn1.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "tls/openssl_ptr.hpp"
#include "tls/x509_text.hpp"

namespace egress::tls {
namespace {

constexpr std::size_t kMaxSpiffeIdBytes = 2048;

bool is_control(unsigned char c) {
  return c < 0x20 || c == 0x7f;
}

// SAN dNSName and uniformResourceIdentifier are IA5String: 7-bit ASCII. A NUL or a control
// character there is either an attack on naive string handling or garbage; neither is a name.
bool clean_ia5(std::string_view s) {
  for (unsigned char c : s) {
    if (is_control(c) || c >= 0x80) return false;
  }
  return true;
}

std::string_view view(const ASN1_STRING* s) {
  return {reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
          static_cast<std::size_t>(ASN1_STRING_length(s))};
}

struct Names {
  std::vector<std::string> uris;
  std::vector<std::string> dns;
  std::string spiffe_id;
  std::string common_name;
};

// Reads the SANs and the CN and checks them. `names` may be null (only checking).
NameProblem collect_names(const X509& cert, Names* names, std::string* detail) {
  // The first problem found is the one reported; collection goes on so that an audit record
  // still shows the other names of a rejected certificate.
  NameProblem problem = NameProblem::none;
  auto note = [&](NameProblem p, std::string text) {
    if (problem != NameProblem::none) return;
    problem = p;
    if (detail != nullptr) *detail = std::move(text);
  };

  int crit = -1;
  GeneralNamesPtr sans(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(&cert, NID_subject_alt_name, &crit, nullptr)));
  if (!sans && crit == -2) {
    note(NameProblem::malformed_name, "more than one subjectAltName extension");
  } else if (!sans && crit >= 0) {
    note(NameProblem::malformed_name, "undecodable subjectAltName extension");
  }

  int spiffe_count = 0;
  int uri_count = 0;
  std::string_view spiffe;
  const int n = sans ? sk_GENERAL_NAME_num(sans.get()) : 0;
  for (int i = 0; i < n; ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans.get(), i);
    if (gn->type == GEN_URI) {
      ++uri_count;
      std::string_view uri = view(gn->d.uniformResourceIdentifier);
      if (!clean_ia5(uri)) {
        note(NameProblem::malformed_name, "URI SAN with a control or non-ASCII character");
        continue;
      }
      if (is_spiffe_scheme(uri)) {
        ++spiffe_count;
        spiffe = uri;
      }
      if (names != nullptr) names->uris.emplace_back(uri);
    } else if (gn->type == GEN_DNS) {
      std::string_view dns = view(gn->d.dNSName);
      if (!clean_ia5(dns)) {
        note(NameProblem::malformed_name, "DNS SAN with a control or non-ASCII character");
        continue;
      }
      if (names != nullptr) names->dns.emplace_back(dns);
    }
  }
  if (spiffe_count > 1) {
    note(NameProblem::multiple_spiffe_ids,
         std::to_string(spiffe_count) + " spiffe:// URI SANs; an X.509-SVID has exactly one");
  } else if (spiffe_count == 1 && uri_count > 1) {
    // X.509-SVID §2 and §5.2: validators MUST reject an SVID with more than one URI SAN.
    note(NameProblem::multiple_uri_sans,
         std::to_string(uri_count) +
             " URI SANs, one of them a SPIFFE ID; an X.509-SVID has exactly one URI SAN");
  } else if (spiffe_count == 1) {
    if (std::string why = spiffe_id_error(spiffe); !why.empty()) {
      note(NameProblem::malformed_spiffe_id, "invalid SPIFFE ID: " + why);
    } else if (spiffe.find('/', std::string_view("spiffe://").size()) == std::string_view::npos) {
      // §3.1 and §5.2: a leaf's SPIFFE ID has a path; the bare trust domain names a CA.
      note(NameProblem::spiffe_id_without_path,
           "SPIFFE ID without a path; an X.509-SVID leaf's ID has one (a trust domain's ID is "
           "a signing certificate's)");
    } else if (problem == NameProblem::none && names != nullptr) {
      names->spiffe_id = spiffe;
    }
  }

  // RFC 6125 leaves several CNs undefined; like most TLS stacks, take the last (most specific).
  const X509_NAME* subject = X509_get_subject_name(&cert);
  int last = -1;
  for (int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1); i >= 0;
       i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) {
    last = i;
  }
  if (last >= 0) {
    const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, last));
    unsigned char* utf8 = nullptr;
    const int len = ASN1_STRING_to_UTF8(&utf8, data);
    Utf8BufferPtr owned(utf8);
    if (len < 0) {
      note(NameProblem::malformed_name, "undecodable subject CN");
    } else {
      std::string_view cn(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(len));
      bool clean = true;
      for (unsigned char c : cn) clean = clean && !is_control(c);
      if (!clean) {
        note(NameProblem::malformed_name, "subject CN with a control character");
      } else if (names != nullptr) {
        names->common_name = cn;
      }
    }
  }
  // A rejected certificate has no usable SPIFFE ID, whatever else was wrong.
  if (problem != NameProblem::none && names != nullptr) names->spiffe_id.clear();
  return problem;
}

std::string serial_hex(const X509& cert) {
  const ASN1_INTEGER* serial = X509_get0_serialNumber(&cert);
  std::string out =
      to_hex(ASN1_STRING_get0_data(serial), static_cast<std::size_t>(ASN1_STRING_length(serial)));
  if (ASN1_STRING_type(serial) == V_ASN1_NEG_INTEGER) out.insert(0, 1, '-');
  return out;
}

}  // namespace

std::string_view to_string(NameProblem p) noexcept {
  switch (p) {
    case NameProblem::none:
      return "none";
    case NameProblem::multiple_spiffe_ids:
      return "multiple_spiffe_ids";
    case NameProblem::multiple_uri_sans:
      return "multiple_uri_sans";
    case NameProblem::malformed_spiffe_id:
      return "malformed_spiffe_id";
    case NameProblem::spiffe_id_without_path:
      return "spiffe_id_without_path";
    case NameProblem::malformed_name:
      return "malformed_name";
  }
  return "unknown";
}

bool is_spiffe_scheme(std::string_view uri) noexcept {
  constexpr std::string_view scheme = "spiffe:";
  if (uri.size() < scheme.size()) return false;
  for (std::size_t i = 0; i < scheme.size(); ++i) {
    char c = uri[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != scheme[i]) return false;
  }
  return true;
}

std::string spiffe_id_error(std::string_view uri) {
  constexpr std::string_view scheme = "spiffe://";
  if (uri.size() > kMaxSpiffeIdBytes) return "longer than 2048 bytes";
  if (uri.substr(0, scheme.size()) != scheme) return "scheme is not \"spiffe://\" (lowercase)";
  std::string_view rest = uri.substr(scheme.size());
  const std::size_t slash = rest.find('/');
  const std::string_view trust_domain = rest.substr(0, slash);
  if (trust_domain.empty()) return "empty trust domain";
  for (char c : trust_domain) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
    if (!ok) return "trust domain has a character outside [a-z0-9._-]";
  }
  if (slash == std::string_view::npos) return {};
  std::string_view path = rest.substr(slash);
  while (!path.empty()) {
    path.remove_prefix(1);  // the '/'
    const std::size_t next = path.find('/');
    const std::string_view segment = path.substr(0, next);
    if (segment.empty()) return "empty path segment";
    if (segment == "." || segment == "..") return "path segment \".\" or \"..\"";
    for (char c : segment) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '-' || c == '_';
      if (!ok) return "path has a character outside [a-zA-Z0-9._-]";
    }
    path = next == std::string_view::npos ? std::string_view() : path.substr(next);
  }
  return {};
}

NameProblem check_names(const X509& cert, std::string* detail) {
  return collect_names(cert, nullptr, detail);
}

IdentityResult extract_identity(const X509& cert) {
  IdentityResult result;
  Names names;
  result.problem = collect_names(cert, &names, &result.detail);
  base::Identity& id = result.identity;
  id.spiffe_id = std::move(names.spiffe_id);
  id.uri_sans = std::move(names.uris);
  id.dns_sans = std::move(names.dns);
  id.common_name = std::move(names.common_name);

  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int md_len = 0;
  if (X509_digest(&cert, EVP_sha256(), md.data(), &md_len) == 1) {
    id.fingerprint_sha256 = to_hex(md.data(), md_len);
  }
  id.issuer = name_to_rfc2253(X509_get_issuer_name(&cert));
  id.serial = serial_hex(cert);
  id.not_after = time_to_rfc3339(X509_get0_notAfter(&cert));
  return result;
}

}  // namespace egress::tls
