//! Link flags of the extension.

fn main() {
    // PHP unloads an extension at module shutdown (dlclose), and Apache's graceful restart then
    // loads it again into the same parent process. A fresh copy of the library has fresh statics:
    // its minit would map a second pool area (the figures start again from zero, the children of
    // both generations count apart, the parent keeps the old area mapped for ever). NODELETE keeps
    // the library, its statics and so the pool's one mapping loaded across the restart; the
    // second minit finds them (pool::init, the fork handler's Once). It also keeps the code of a
    // writer thread that outlived mshutdown's wait mapped.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
    println!("cargo:rerun-if-changed=build.rs");
}
