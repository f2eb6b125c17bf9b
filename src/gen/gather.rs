//! A datagram gathered from pieces, sent with one iovec per piece: its own
//! bytes (headers, set headers, padding, short runs of records) and stretches
//! of a replay's record arena, which the kernel copies from where they lie —
//! the one copy every datagram gets anyway, instead of a second one in user
//! space first.
//!
//! Arena pieces are offsets, not pointers: they are resolved against the
//! arena when the datagram is sent or flattened, so a `Gather` holds no
//! borrow and the send path needs no lifetime tricks.

/// Most pieces (iovecs) a datagram is split into. The kernel copies up to
/// `UIO_FASTIOV` (8) iovecs of a message onto its stack and allocates for more.
pub const MAX_PIECES: usize = 8;

#[derive(Clone, Copy, Default)]
struct Piece {
    /// In the arena (true) or in `own` (false).
    arena: bool,
    start: u32,
    end: u32,
}

/// One datagram's pieces, in order. Reused from batch to batch.
pub struct Gather {
    own: Vec<u8>,
    pieces: [Piece; MAX_PIECES],
    count: usize,
    len: usize,
}

impl Default for Gather {
    fn default() -> Gather {
        Gather::with_capacity(2048)
    }
}

impl Gather {
    /// An empty datagram whose own bytes take up to `capacity` without allocating.
    pub fn with_capacity(capacity: usize) -> Gather {
        Gather { own: Vec::with_capacity(capacity), pieces: [Piece::default(); MAX_PIECES], count: 0, len: 0 }
    }

    #[inline]
    pub fn clear(&mut self) {
        self.own.clear();
        self.count = 0;
        self.len = 0;
    }

    /// Bytes in the datagram.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The datagram's own bytes so far (to fill in headers and lengths once known).
    #[inline]
    pub fn own_mut(&mut self) -> &mut [u8] {
        &mut self.own
    }

    /// Where the next own byte will go in `own_mut`.
    #[inline]
    pub fn own_len(&self) -> usize {
        self.own.len()
    }

    /// Appends `bytes` as the datagram's own.
    #[inline]
    pub fn push_own(&mut self, bytes: &[u8]) {
        self.own_tail(bytes.len()).copy_from_slice(bytes);
    }

    /// Appends `n` own bytes (zeros) and returns them to be written.
    #[inline]
    pub fn own_tail(&mut self, n: usize) -> &mut [u8] {
        let start = self.own.len();
        self.own.resize(start + n, 0);
        let end = self.own.len() as u32;
        match self.count.checked_sub(1).map(|last| &mut self.pieces[last]) {
            Some(last) if !last.arena && last.end == start as u32 => last.end = end,
            _ => self.push_piece(Piece { arena: false, start: start as u32, end }),
        }
        self.len += n;
        &mut self.own[start..]
    }

    /// Whether one more arena piece fits (leaving room for own bytes after it).
    #[inline]
    pub fn can_borrow(&self) -> bool {
        self.count + 2 <= MAX_PIECES
    }

    /// Appends arena bytes `start..end`, sent from the arena (check `can_borrow` first).
    #[inline]
    pub fn push_arena(&mut self, start: usize, end: usize) {
        match self.count.checked_sub(1).map(|last| &mut self.pieces[last]) {
            Some(last) if last.arena && last.end == start as u32 => last.end = end as u32,
            _ => self.push_piece(Piece { arena: true, start: start as u32, end: end as u32 }),
        }
        self.len += end - start;
    }

    #[inline]
    fn push_piece(&mut self, piece: Piece) {
        assert!(self.count < MAX_PIECES, "a datagram of more than {MAX_PIECES} pieces");
        self.pieces[self.count] = piece;
        self.count += 1;
    }

    /// The datagram's pieces in order, arena pieces read from `arena`.
    #[inline]
    pub fn pieces<'a>(&'a self, arena: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.pieces[..self.count].iter().map(move |p| {
            let from = if p.arena { arena } else { &self.own[..] };
            &from[p.start as usize..p.end as usize]
        })
    }

    /// Pieces in the datagram.
    #[inline]
    pub fn piece_count(&self) -> usize {
        self.count
    }

    /// The whole datagram in `out` (cleared first).
    pub fn flatten(&self, arena: &[u8], out: &mut Vec<u8>) {
        out.clear();
        for piece in self.pieces(arena) {
            out.extend_from_slice(piece);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_come_out_in_order_and_adjacent_ones_merge() {
        let arena: Vec<u8> = (0..100).collect();
        let mut g = Gather::default();
        g.push_own(b"ab");
        g.own_tail(2).copy_from_slice(b"cd");
        g.push_arena(10, 14);
        g.push_arena(14, 16);
        g.push_own(b"e");
        g.push_arena(50, 51);
        g.own_mut()[0] = b'A';
        assert_eq!(g.piece_count(), 4);
        assert_eq!((g.len(), g.own_len()), (4 + 6 + 1 + 1, 5));
        let mut out = Vec::new();
        g.flatten(&arena, &mut out);
        assert_eq!(out, [&b"Abcd"[..], &[10, 11, 12, 13, 14, 15], b"e", &[50]].concat());
        g.clear();
        assert!(g.is_empty());
        g.flatten(&arena, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn room_is_left_for_own_bytes_after_the_last_arena_piece() {
        let mut g = Gather::default();
        let mut borrowed = 0;
        g.push_own(b"h");
        while g.can_borrow() {
            g.push_arena(borrowed * 10, borrowed * 10 + 1);
            g.push_own(b"h");
            borrowed += 1;
        }
        g.push_own(b"end");
        assert_eq!(borrowed, (MAX_PIECES - 1) / 2);
        assert_eq!(g.piece_count(), 2 * borrowed + 1);
        assert!(g.piece_count() <= MAX_PIECES);
    }
}
