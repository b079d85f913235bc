#pragma once
// What starting a module again needs, kept from its first load, and its
// stored form. Plain data: any thread may read an image, none changes it.

#include <memory>
#include <string>
#include <string_view>

namespace orrery {

/// A module's bundle, its definition and V8's code cache of its first load
/// (the library, the top level and describe). Instances started from it
/// compile from the cache and do not describe the module again.
struct module_image {
  std::string bundle;
  std::string definition;  // RawModuleDef (BSATN), as `__describe_module__` returned it
  std::string code_cache;  // V8 checks it against its version, flags and the bundle
};

/// The stored form of `image` without its bundle (stored beside it).
std::string encode_stored_image(const module_image& image);
/// The image of `bundle` from its stored form; null if `stored` is malformed.
std::shared_ptr<const module_image> decode_stored_image(std::string bundle, std::string_view stored);

} // namespace orrery
