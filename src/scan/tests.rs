use super::*;
use std::path::Path;

fn scan(text: &str) -> FileScan {
    scan_text(Path::new("t.yaml"), text).expect("scan")
}

#[test]
fn probe() {
    let s = scan("a: &x nginx:1\nb:\n  image: *x  # c\n  image2: 'q'\n");
    eprintln!("{s:#?}");
}
