//! Counts heap allocations per event on the full CPU path (bytes → Finding → fingerprint → ASFF
//! record, dropped), per phase. Usage: allocs FIXTURE...
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use vigil_adapters::{ParseContext, SourceEvent, parse_event};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(layout.size(), Relaxed);
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(new_size, Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn count<T>(f: impl FnOnce() -> T) -> (T, usize, usize) {
    let (a, b) = (ALLOCS.load(Relaxed), BYTES.load(Relaxed));
    let out = f();
    (out, ALLOCS.load(Relaxed) - a, BYTES.load(Relaxed) - b)
}

fn main() {
    let ctx = ParseContext {
        default_account: Some("123456789012".into()),
        default_region: Some("us-east-1".into()),
        ..Default::default()
    };
    let mapping = vigil_asff::MappingContext {
        now: chrono::Utc::now(),
    };
    println!("| event | normalize+fingerprint (allocations, bytes) | ASFF (allocations, bytes) |");
    println!("|---|---|---|");
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path).expect("read fixture");
        let (event, n1, b1) = count(|| parse_event(&bytes, &ctx).expect("sample parses"));
        let (n2, b2) = match &event {
            SourceEvent::Finding(f) => {
                let (_, n, b) = count(|| vigil_asff::to_asff(f, &mapping).expect("maps"));
                (n, b)
            }
            _ => (0, 0),
        };
        let name = path.rsplit('/').next().unwrap_or(&path);
        println!("| {name} | {n1}, {b1} | {n2}, {b2} |");
    }
}
