//! Reading a call's arguments straight from PHP's call frame when they have exactly the declared
//! types (every call the plugin makes), and [`php_hooks!`], which declares a PHP function once for
//! both ways of calling it.
//!
//! ext-php-rs's generic argument parser allocates every argument's name and two vectors per call,
//! and sets up a `setjmp` guard, which together cost more than the rest of a hook. Anything else
//! than exact types (another type, a wrong count, an invalid value) goes to the handler
//! ext-php-rs generates for the same declaration, so coercions, `TypeError`s and `ValueError`s
//! are PHP's. The fast path calls nothing that can reach PHP's allocator or throw, so it needs no
//! `setjmp` guard; a panic is caught and the call handed to the generated handler.

use std::sync::OnceLock;

use ext_php_rs::binary_slice::BinarySlice;
use ext_php_rs::builders::{FunctionBuilder, ModuleBuilder};
use ext_php_rs::convert::FromZvalMut;
use ext_php_rs::ffi::{zend_execute_data, zval};
use ext_php_rs::types::Zval;
use ext_php_rs::zend::ExecuteData;

pub type RawHandler = unsafe extern "C" fn(*mut zend_execute_data, *mut zval);

/// A parameter type that the fast path reads without any conversion.
pub trait Exact<'a>: FromZvalMut<'a> {
    /// What the function's body takes.
    type Raw;
    /// The value when the zval has exactly this type.
    fn exact(z: &'a Zval) -> Option<Self::Raw>;
    /// The value the generated handler parsed.
    fn raw(self) -> Self::Raw;
}

impl<'a> Exact<'a> for i64 {
    type Raw = i64;
    fn exact(z: &'a Zval) -> Option<i64> {
        if z.is_long() {
            z.long()
        } else {
            None
        }
    }
    fn raw(self) -> i64 {
        self
    }
}

impl<'a> Exact<'a> for BinarySlice<'a, u8> {
    type Raw = &'a [u8];
    fn exact(z: &'a Zval) -> Option<&'a [u8]> {
        if z.is_string() {
            z.zend_str().map(|s| s.as_bytes())
        } else {
            None
        }
    }
    fn raw(self) -> &'a [u8] {
        self.into()
    }
}

/// The arguments of this call when there are exactly `N` of them.
pub fn args<const N: usize>(ex: &ExecuteData) -> Option<[&Zval; N]> {
    // SAFETY: for a function's call frame the engine sets `num_args` in the `u2` union of `This`.
    let n = unsafe { ex.This.u2.num_args } as usize;
    if n != N {
        return None;
    }
    let mut out = [None; N];
    for (i, slot) in out.iter_mut().enumerate() {
        // SAFETY: the frame holds `n` arguments and `i < n`; they outlive this call.
        *slot = unsafe { ex.zend_call_arg(i) }.map(|z| &*z);
    }
    if out.iter().any(Option::is_none) {
        return None;
    }
    Some(out.map(|z| z.expect("checked above")))
}

/// Calls the generated handler kept in `slot`, for a call the fast path does not take.
pub fn call_generated(slot: &OnceLock<RawHandler>, ex: &mut ExecuteData, retval: &mut Zval) {
    if let Some(h) = slot.get() {
        // SAFETY: the generated handler of the same function, called with the frame and return
        // value PHP gave us, as PHP would have called it.
        unsafe { h(ex, retval) };
    }
}

/// Registers a hook: the fast handler when the generated one could be kept for the other calls,
/// else the generated one alone (cannot happen with a working ext-php-rs).
pub fn register<'a>(
    module: ModuleBuilder<'a>,
    generated: fn() -> FunctionBuilder<'static>,
    fast: FunctionBuilder<'static>,
    slot: &'static OnceLock<RawHandler>,
) -> ModuleBuilder<'a> {
    let handler = generated().build().ok().and_then(|(entry, _arg_info)| entry.handler);
    match handler {
        Some(h) => {
            // Set once: the module is built once per process.
            let _ = slot.set(h);
            module.function(fast)
        }
        None => module.function(generated()),
    }
}

/// Declares PHP functions that return `bool` once: their parameters (name and type), and the
/// Rust function that does the work with the raw values. Generates, per function, the
/// `#[php_function]` (ext-php-rs's handler, which parses any arguments) and a fast handler with
/// the same argument table (built from the same parameter list), and `register_hooks()`.
macro_rules! php_hooks {
    ($( $(#[$meta:meta])* fn $name:ident($($arg:ident: $ty:ty),* $(,)?) => $body:path; )*) => {
        $(
            $(#[$meta])*
            #[::ext_php_rs::prelude::php_function]
            pub fn $name($($arg: $ty),*) -> ::ext_php_rs::exception::PhpResult<bool> {
                $body($(<$ty as $crate::call_frame::Exact>::raw($arg)),*)
            }
        )*

        /// Adds the hooks to the extension.
        pub fn register_hooks(module: ::ext_php_rs::builders::ModuleBuilder<'_>) -> ::ext_php_rs::builders::ModuleBuilder<'_> {
            $(
                let module = {
                    static GENERATED: ::std::sync::OnceLock<$crate::call_frame::RawHandler> = ::std::sync::OnceLock::new();
                    extern "C" fn fast(
                        ex: &mut ::ext_php_rs::zend::ExecuteData,
                        retval: &mut ::ext_php_rs::types::Zval,
                    ) {
                        const N: usize = [$(stringify!($arg)),*].len();
                        let fast = $crate::call_frame::args::<N>(ex).and_then(|zs| {
                            let mut zs = zs.into_iter();
                            $( let $arg = <$ty as $crate::call_frame::Exact>::exact(zs.next()?)?; )*
                            ::std::panic::catch_unwind(|| $body($($arg),*).ok()).ok().flatten()
                        });
                        match fast {
                            Some(logged) => retval.set_bool(logged),
                            None => $crate::call_frame::call_generated(&GENERATED, ex, retval),
                        }
                    }
                    let fast = ::ext_php_rs::builders::FunctionBuilder::new(stringify!($name), fast)
                        $(.arg(::ext_php_rs::args::Arg::of::<$ty>(stringify!($arg))))*
                        .returns(
                            <::ext_php_rs::exception::PhpResult<bool> as ::ext_php_rs::convert::IntoZval>::TYPE,
                            false,
                            <::ext_php_rs::exception::PhpResult<bool> as ::ext_php_rs::convert::IntoZval>::NULLABLE,
                        );
                    $crate::call_frame::register(module, || ::ext_php_rs::wrap_function!($name), fast, &GENERATED)
                };
            )*
            module
        }
    };
}

pub(crate) use php_hooks;
