//! Text tables for `list` and `sessions`: a header line and one line per
//! row, each column as wide as its widest cell, so that an administrator's
//! eye (and `column`, `awk`) finds the same field at the same place.

/// How a column's cells line up.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text: flush left.
    Left,
    /// Numbers: flush right.
    Right,
}

/// The table's lines: `header`, then `rows`, columns two spaces apart and
/// no trailing spaces.
pub fn render(header: &[(&str, Align)], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|(h, _)| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let titles: Vec<String> = header.iter().map(|(h, _)| (*h).to_owned()).collect();
    let mut out = String::new();
    for row in std::iter::once(&titles).chain(rows) {
        let cells = row
            .iter()
            .zip(header)
            .zip(&widths)
            .map(|((cell, (_, align)), w)| {
                let pad = " ".repeat(w.saturating_sub(cell.chars().count()));
                match align {
                    Align::Left => format!("{cell}{pad}"),
                    Align::Right => format!("{pad}{cell}"),
                }
            });
        out += cells.collect::<Vec<_>>().join("  ").trim_end();
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_as_wide_as_their_widest_cell() {
        let rows = vec![
            vec!["desk".into(), "12".into(), "-".into()],
            vec!["a-longer-name".into(), "3".into(), "x".into()],
        ];
        let header = [
            ("NAME", Align::Left),
            ("N", Align::Right),
            ("USER", Align::Left),
        ];
        assert_eq!(
            render(&header, &rows),
            "NAME            N  USER\n\
             desk           12  -\n\
             a-longer-name   3  x\n"
        );
    }
}
