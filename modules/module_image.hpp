#pragma once
// What starting a module again needs, kept from its first load; its stored
// form; and the host's cache of the images its awake databases run. An image
// is plain data: any thread may read it, none changes it.

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace orrery {

/// A module's bundle, its definition and V8's code cache of its first load
/// (the library, the top level and describe). Instances started from it
/// compile from the cache and do not describe the module again.
struct module_image {
  std::string bundle;
  std::string definition;  // RawModuleDef (BSATN), as `__describe_module__` returned it
  std::string code_cache;  // V8 checks it against its version, flags and the bundle
  /// The bundle in UTF-16 when it is not all ASCII (see with_source), so
  /// that every isolate of the module reads one copy in place.
  std::u16string utf16;
};

/// Fills in `image.utf16` from its bundle when the bundle is not ASCII.
void with_source(module_image& image);
/// UTF-8 to UTF-16 as V8 decodes it: each ill-formed sequence, up to the byte
/// that breaks it, becomes one U+FFFD.
std::u16string utf16_of(const std::string& text);

/// The stored form of `image` without its bundle (stored beside it) or the
/// bundle's UTF-16.
std::string encode_stored_image(const module_image& image);
/// The image of `bundle` from its stored form; null if `stored` is malformed.
std::shared_ptr<const module_image> decode_stored_image(std::string bundle, std::string_view stored);

/// The images of the modules awake databases run, by module hash, so that
/// the databases of one module share one image (and one copy of its bundle).
/// Held weakly: an image goes with the last instance started from it.
/// Any thread may call it.
class module_image_cache {
public:
  /// The image of module `hash`, if an instance still holds one.
  std::shared_ptr<const module_image> find(const std::string& hash);
  void keep(const std::string& hash, const std::shared_ptr<const module_image>& image);

private:
  std::mutex mutex_;
  std::unordered_map<std::string, std::weak_ptr<const module_image>> images_;
  std::size_t prune_at_ = 64;  // entries of gone images are dropped when the map reaches this
};

} // namespace orrery
