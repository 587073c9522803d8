//! Queries over the log: filter, order, page with a cursor, count, explain. Each segment
//! is planned on its own ([`plan`]): skipped when its time bounds, the cursor or its
//! dictionary rule it out, otherwise searched through its index; only matching records
//! are read. Memory stays bounded by one segment's matches, whatever the log's size.
//! docs/QUERIES.md describes the semantics.

mod actions;
mod cursor;
mod email;
mod filter;
mod plan;
mod read;

use std::path::PathBuf;
use std::sync::Arc;

pub use actions::ActionStat;
pub use cursor::{Cursor, Order};
pub use email::EmailNarrowing;
pub use filter::{ActionPattern, Filter, parse_since};
pub use plan::Access;

use crate::error::{Corruption, CorruptionKind, Error, Result};
use crate::event::{Event, Outcome, RawEvent, Timestamp};
pub use crate::index::IndexSource;
use crate::index::{IndexRead, MemoryView, SealedIndex, SharedIndex, load_or_build};
use crate::log::Log;
use crate::segment::SealedSegment;
use crate::storage::StorageFile;
use read::RecordReader;

/// A query: which events, in which order, how many per page, from where.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Which events.
    pub filter: Filter,
    /// Newest (highest sequence number) or oldest first.
    pub order: Order,
    /// Most events to return; `None` for all (an export).
    pub limit: Option<u64>,
    /// Resume after the page that gave out this cursor.
    pub cursor: Option<Cursor>,
}

/// What a read of a sealing log shows of its personal fields (e-mail, IP address, user
/// agent, personal metadata).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PersonalFields {
    /// Opened with the subject's key where the log was opened with its key-encryption
    /// key; else each shown by its marker (`[sealed]`, `[erased]`, `[unavailable]`).
    #[default]
    Opened,
    /// Each shown `[sealed]`, even where the log could open it: for copies that leave
    /// the log's keeping (the archive's Parquet), which no later erasure would reach.
    Sealed,
}

/// How a query was carried out, segment by segment.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// One entry per segment visited, in order.
    pub segments: Vec<SegmentPlan>,
    /// Segments after those, not reached because the page was full.
    pub not_reached: usize,
}

/// One segment's part of a plan.
#[derive(Debug, Clone)]
pub struct SegmentPlan {
    /// The segment file.
    pub path: PathBuf,
    /// Its first sequence number.
    pub first_seq: u64,
    /// Its records.
    pub records: u64,
    /// Whether its index was in memory (active segment), read from its file, or rebuilt
    /// from the records (missing or damaged file); `None` if not needed.
    pub index: Option<IndexSource>,
    /// How candidates were found.
    pub access: Access,
    /// Candidates checked against the index columns.
    pub examined: u64,
    /// Events that matched.
    pub matched: u64,
}

/// What a page ended with.
#[derive(Debug, Clone)]
pub struct Page {
    /// Events handed to the visitor.
    pub returned: u64,
    /// Where the next page starts; `None` when no event is left.
    pub next_cursor: Option<Cursor>,
    /// How the page was found.
    pub plan: Plan,
}

/// Matching events, in all and by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// All matching events.
    pub total: u64,
    /// By outcome, in [`Outcome::ALL`] order.
    pub by_outcome: [u64; 4],
}

impl Counts {
    /// Counts one more event, of outcome `code`.
    fn add(&mut self, code: u8) {
        self.total += 1;
        if let Some(c) = self.by_outcome.get_mut(usize::from(code)) {
            *c += 1;
        }
    }

    /// Adds `other`'s counts.
    pub fn merge(&mut self, other: &Counts) {
        self.total += other.total;
        for (mine, theirs) in self.by_outcome.iter_mut().zip(other.by_outcome) {
            *mine += theirs;
        }
    }

    /// The count of one outcome.
    pub fn of(&self, outcome: Outcome) -> u64 {
        self.by_outcome
            .get(usize::from(outcome.code()))
            .copied()
            .unwrap_or(0)
    }
}

/// A segment as a query sees it.
pub(crate) enum Source {
    Sealed(Arc<SealedSegment>),
    Active(ActiveSource),
}

pub(crate) struct ActiveSource {
    path: PathBuf,
    file: Arc<dyn StorageFile>,
    base_seq: u64,
    records: u32,
    min_timestamp: crate::event::Timestamp,
    max_timestamp: crate::event::Timestamp,
    index: SharedIndex,
}

impl Source {
    fn base(&self) -> u64 {
        match self {
            Source::Sealed(s) => s.base(),
            Source::Active(a) => a.base_seq,
        }
    }

    fn records(&self) -> u64 {
        match self {
            Source::Sealed(s) => s.footer.record_count,
            Source::Active(a) => u64::from(a.records),
        }
    }

    pub(crate) fn path(&self) -> &std::path::Path {
        match self {
            Source::Sealed(s) => &s.path,
            Source::Active(a) => &a.path,
        }
    }

    fn time_bounds(&self) -> (crate::event::Timestamp, crate::event::Timestamp) {
        match self {
            Source::Sealed(s) => (s.footer.min_timestamp, s.footer.max_timestamp),
            Source::Active(a) => (a.min_timestamp, a.max_timestamp),
        }
    }
}

impl Log {
    /// Runs `query`, handing each matching event to `visit` in the query's order until
    /// the limit is reached or `visit` returns `Ok(false)`.
    pub fn query(
        &self,
        query: &Query,
        mut visit: impl FnMut(u64, Event<'_>) -> Result<bool>,
    ) -> Result<Page> {
        self.query_raw(query, |seq, raw| {
            let event = raw.to_event().map_err(|e| self.damaged_record(seq, e))?;
            visit(seq, event)
        })
    }

    /// The error for record `seq` found damaged by a visitor of [`Log::query_raw`] (a
    /// string that is not UTF-8): corruption of its segment, at its frame.
    pub fn damaged_record(&self, seq: u64, why: impl std::fmt::Display) -> Error {
        let view = self.shared.view.read();
        let active = view.active.as_ref().filter(|a| a.base_seq <= seq);
        let place = match active {
            Some(a) => {
                let i = usize::try_from(seq - a.base_seq).unwrap_or(usize::MAX);
                let offset = a.offsets.get(i).map_or(0, |&o| u64::from(o));
                Some((a.path.clone(), offset))
            }
            None => view
                .sealed
                .iter()
                .rev()
                .find(|s| s.base() <= seq)
                .map(|s| (s.path.clone(), s.known_frame_offset(seq).unwrap_or(0))),
        };
        let kind = CorruptionKind::BadField(format!("record {seq}: {why}"));
        match place {
            Some((path, offset)) => Error::Corruption(Corruption::new(path, offset, kind)),
            None => Error::InvalidArgument(format!("record {seq}: {why}")),
        }
    }

    /// [`Log::query`] handing over each event's stored fields, its strings not yet checked
    /// to be UTF-8: for writing events out ([`RawEvent::write_json`] checks each string
    /// as it copies it) without decoding them twice. The filter compares stored bytes, so
    /// a record the index chose but whose own fields fail the filter is passed over
    /// whatever its bytes; a string that is not UTF-8 (a record whose CRC holds but that
    /// this engine did not write so) shows when the event is written out.
    pub fn query_raw(
        &self,
        query: &Query,
        visit: impl FnMut(u64, RawEvent<'_>) -> Result<bool>,
    ) -> Result<Page> {
        self.query_raw_with(query, PersonalFields::Opened, visit)
    }

    /// [`Log::query_raw`], a sealing log's personal fields opened or kept sealed as
    /// `personal` says.
    pub fn query_raw_with(
        &self,
        query: &Query,
        personal: PersonalFields,
        mut visit: impl FnMut(u64, RawEvent<'_>) -> Result<bool>,
    ) -> Result<Page> {
        let fingerprint = query.filter.fingerprint();
        let after = match &query.cursor {
            Some(c) if c.fingerprint != fingerprint || c.order != query.order => {
                return Err(Error::InvalidArgument(
                    "the cursor belongs to another query (other filters or order)".into(),
                ));
            }
            Some(c) => Some(c.last_seq),
            None => None,
        };
        let mut returned = 0u64;
        let mut last = None;
        let mut stopped = false;
        let mut more = false;
        let plan = self.run(query, after, personal, |seq, event| {
            if query.limit.is_some_and(|l| returned >= l) || stopped {
                more = true;
                return Ok(false);
            }
            returned += 1;
            last = Some(seq);
            if !visit(seq, event)? {
                stopped = true;
                return Ok(false);
            }
            Ok(true)
        })?;
        let next_cursor = match last {
            Some(last_seq) if more || stopped => Some(Cursor {
                order: query.order,
                last_seq,
                fingerprint,
                from: query.filter.time.from,
            }),
            _ => None,
        };
        Ok(Page {
            returned,
            next_cursor,
            plan,
        })
    }

    /// Counts the events `filter` selects, without reading them unless a resource filter
    /// needs their records.
    pub fn count(&self, filter: &Filter) -> Result<(Counts, Plan)> {
        let mut counts = Counts::default();
        let plan = self.tally(filter, false, |_, outcome| counts.add(outcome))?;
        Ok((counts, plan))
    }

    /// Counts the events `filter` selects by time: in buckets `width` microseconds wide
    /// counted from the epoch (an hour, a day: UTC hours and days), each named by its
    /// start, oldest first, only those holding an event. Answered from the indexes'
    /// time and outcome columns, as [`Log::count`] is.
    pub fn count_over_time(
        &self,
        filter: &Filter,
        width: i64,
    ) -> Result<(Vec<(Timestamp, Counts)>, Plan)> {
        if width <= 0 {
            return Err(Error::InvalidArgument(format!(
                "a time bucket of {width} microseconds"
            )));
        }
        let mut buckets = std::collections::BTreeMap::<i64, Counts>::new();
        let mut last: Option<(i64, Counts)> = None;
        let plan = self.tally(filter, true, |time, outcome| {
            let start = time.div_euclid(width) * width;
            // Matches come in log order, mostly in time order: count into the bucket
            // at hand and file it only when another is needed.
            match &mut last {
                Some((at, counts)) if *at == start => counts.add(outcome),
                _ => {
                    if let Some((at, counts)) = last.take() {
                        buckets.entry(at).or_default().merge(&counts);
                    }
                    let mut counts = Counts::default();
                    counts.add(outcome);
                    last = Some((start, counts));
                }
            }
        })?;
        if let Some((at, counts)) = last {
            buckets.entry(at).or_default().merge(&counts);
        }
        let buckets = buckets
            .into_iter()
            .map(|(at, counts)| (Timestamp(at), counts))
            .collect();
        Ok((buckets, plan))
    }

    /// Hands `add` the time and outcome code of each event `filter` selects (the time
    /// only when `with_times`, else 0), from the index columns unless a resource filter
    /// needs the records.
    fn tally(
        &self,
        filter: &Filter,
        with_times: bool,
        mut add: impl FnMut(i64, u8),
    ) -> Result<Plan> {
        let query = Query {
            filter: filter.clone(),
            order: Order::OldestFirst,
            limit: None,
            cursor: None,
        };
        let mut reader = RecordReader::default();
        self.search(&query, None, with_times, |source, matches| {
            if !filter.needs_record() {
                for (i, &outcome) in matches.outcomes.iter().enumerate() {
                    add(matches.times.get(i).copied().unwrap_or(0), outcome);
                }
                return Ok(true);
            }
            reader.each(self, source, &matches.seqs, |seq, event| {
                if filter.matches_raw(seq, &event) {
                    add(event.timestamp.0, event.outcome.code());
                }
                Ok(true)
            })
        })
    }

    /// Reads and hands over every event `query` selects after `after`.
    fn run(
        &self,
        query: &Query,
        after: Option<u64>,
        personal: PersonalFields,
        mut visit: impl FnMut(u64, RawEvent<'_>) -> Result<bool>,
    ) -> Result<Plan> {
        let mut reader = RecordReader::showing(personal);
        self.search(query, after, false, |source, matches| {
            reader.each(self, source, &matches.seqs, |seq, event| {
                // The index chose the record; the record itself has the last word.
                Ok(!query.filter.matches_raw(seq, &event) || visit(seq, event)?)
            })
        })
    }

    /// Plans and searches each segment in the query's order, calling `found(source,
    /// matches)` with each segment's matches by the index (in order; their times too
    /// when `with_times`) until it returns `Ok(false)`. Without a resource filter the
    /// index decides exactly; with one, `found` must still check the records.
    fn search(
        &self,
        query: &Query,
        after: Option<u64>,
        with_times: bool,
        mut found: impl FnMut(&Source, &Matches) -> Result<bool>,
    ) -> Result<Plan> {
        let filter = &query.filter;
        let mut sources = self.sources();
        if query.order == Order::NewestFirst {
            sources.reverse();
        }
        let mut plan = Plan::default();
        let mut done = false;
        let mut matched = 0u64;
        let mut matches = Matches::default();
        for (visited, source) in sources.iter().enumerate() {
            if done {
                plan.not_reached = sources.len() - visited;
                break;
            }
            let base = source.base();
            let records = source.records();
            let mut entry = SegmentPlan {
                path: source.path().to_path_buf(),
                first_seq: base,
                records,
                index: None,
                access: Access::Scan,
                examined: 0,
                matched: 0,
            };
            // The part of the segment in the sequence range, on the far side of the cursor.
            let local = |seq: u64| seq.saturating_sub(base).min(records);
            let (mut lo, mut hi) = match &filter.seqs {
                Some(r) => (local(r.start), local(r.end)),
                None => (0, records),
            };
            match (after, query.order) {
                (None, _) => {}
                (Some(a), Order::NewestFirst) => hi = hi.min(local(a)),
                (Some(a), Order::OldestFirst) => lo = lo.max(local(a.saturating_add(1))),
            }
            let (min_t, max_t) = source.time_bounds();
            if lo >= hi {
                entry.access = Access::SkippedByCursor;
            } else if !filter.time.overlaps(min_t, max_t) {
                entry.access = Access::SkippedByTime;
            } else {
                let covers_time = filter.time.contains(min_t) && filter.time.contains(max_t);
                // One more than the page needs tells whether another page follows.
                let want = query
                    .limit
                    .map(|l| l.saturating_sub(matched).saturating_add(1));
                let cap = if filter.needs_record() { None } else { want };
                matches.clear();
                let wanted = SegmentSearch {
                    filter,
                    covers_time,
                    range: lo as u32..hi as u32,
                    order: query.order,
                    want,
                };
                let mut hits = Hits {
                    base,
                    cap,
                    with_times,
                    matches: &mut matches,
                };
                let (access, examined) = match source {
                    Source::Sealed(segment) => {
                        let (index, how) = self.sealed_index(segment)?;
                        entry.index = Some(how);
                        search_segment(index.as_ref(), wanted, &mut hits)?
                    }
                    Source::Active(active) => {
                        entry.index = Some(IndexSource::Memory);
                        // Searched under the lock, which is released before any record
                        // is read: a slow consumer never holds up the sync stage.
                        let guard = active.index.read();
                        let view = MemoryView {
                            index: &guard,
                            records: active.records,
                        };
                        search_segment(&view, wanted, &mut hits)?
                    }
                };
                entry.access = access;
                entry.examined = examined;
                entry.matched = matches.seqs.len() as u64;
                matched += entry.matched;
                done = !found(source, &matches)?;
            }
            plan.segments.push(entry);
        }
        Ok(plan)
    }

    /// What a query reads: the sealed segments and the committed part of the active one,
    /// in log order.
    fn sources(&self) -> Vec<Source> {
        let view = self.shared.view.read();
        let mut sources: Vec<Source> = view.sealed.iter().cloned().map(Source::Sealed).collect();
        if let Some(a) = &view.active
            && !a.offsets.is_empty()
        {
            sources.push(Source::Active(ActiveSource {
                path: a.path.clone(),
                file: Arc::clone(&a.file),
                base_seq: a.base_seq,
                records: a.offsets.len() as u32,
                min_timestamp: a.min_timestamp,
                max_timestamp: a.max_timestamp,
                index: Arc::clone(&view.active_index),
            }));
        }
        sources
    }

    /// A sealed segment's index: cached, else its file, else rebuilt from the records
    /// (and stored, unless the log is open read-only).
    pub(crate) fn sealed_index(
        &self,
        segment: &SealedSegment,
    ) -> Result<(Arc<SealedIndex>, IndexSource)> {
        let base = segment.base();
        if let Some((index, how)) = self.shared.indexes.read().get(&base) {
            return Ok((Arc::clone(index), *how));
        }
        let shared = &self.shared;
        let indexing = shared.indexing.lock().get(&base).cloned();
        if let Some(indexed) = indexing {
            // Just sealed: its index file is being written; waiting beats rebuilding.
            let _ = indexed.recv();
        }
        let (index, rebuilt) = load_or_build(shared.storage.as_ref(), segment, shared.writable)?;
        let index = Arc::new(index);
        let how = if rebuilt {
            IndexSource::Rebuilt
        } else {
            IndexSource::File
        };
        shared
            .indexes
            .write()
            .insert(base, (Arc::clone(&index), how));
        Ok((index, how))
    }
}

/// One segment's matches by the index, in the order searched.
#[derive(Default)]
struct Matches {
    seqs: Vec<u64>,
    /// Outcome codes.
    outcomes: Vec<u8>,
    /// Timestamps (microseconds), when asked for.
    times: Vec<i64>,
}

impl Matches {
    fn clear(&mut self) {
        self.seqs.clear();
        self.outcomes.clear();
        self.times.clear();
    }
}

/// Where one segment's matches go, up to `cap`.
struct Hits<'a> {
    base: u64,
    cap: Option<u64>,
    with_times: bool,
    matches: &'a mut Matches,
}

/// What a segment is searched for.
struct SegmentSearch<'a> {
    filter: &'a Filter,
    /// The segment's time bounds lie inside the filter's range.
    covers_time: bool,
    /// The records searched (local numbers).
    range: std::ops::Range<u32>,
    order: Order,
    /// How many hits the page still needs, if it has a limit.
    want: Option<u64>,
}

/// Resolves the filter against one segment's index and collects its matches; generic
/// over the index so its column reads inline into the scan.
fn search_segment<I: IndexRead + ?Sized>(
    index: &I,
    wanted: SegmentSearch<'_>,
    hits: &mut Hits<'_>,
) -> Result<(Access, u64)> {
    let SegmentSearch {
        filter,
        covers_time,
        range,
        order,
        want,
    } = wanted;
    let resolved = match plan::resolve(index, filter, covers_time) {
        Ok(r) => r,
        Err(field) => return Ok((Access::AbsentValue(field), 0)),
    };
    plan::search(index, filter, &resolved, range, order, want, |i| {
        let m = &mut *hits.matches;
        m.seqs.push(hits.base + u64::from(i));
        m.outcomes.push(index.outcome(i));
        if hits.with_times {
            m.times.push(index.timestamp(i));
        }
        hits.cap.is_none_or(|c| (m.seqs.len() as u64) < c)
    })
}

impl std::fmt::Display for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Access::SkippedByTime => f.write_str("skipped: its time bounds miss the range"),
            Access::SkippedByCursor => f.write_str("skipped: outside the sequence range or cursor"),
            Access::AbsentValue(field) => {
                write!(f, "skipped: no event has the {field} asked for")
            }
            Access::Postings {
                field,
                lists,
                entries,
            } => write!(
                f,
                "{field} postings ({lists} list{}, {entries} entries), other filters on the columns",
                if *lists == 1 { "" } else { "s" }
            ),
            Access::Scan => f.write_str("column scan"),
        }
    }
}

impl std::fmt::Display for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let searched = self
            .segments
            .iter()
            .filter(|s| matches!(s.access, Access::Postings { .. } | Access::Scan))
            .count();
        let skipped =
            |a: fn(&Access) -> bool| self.segments.iter().filter(|s| a(&s.access)).count();
        writeln!(
            f,
            "{} segments: {searched} searched, {} skipped by time, {} by sequence range or cursor, {} lacking a value, {} not reached",
            self.segments.len() + self.not_reached,
            skipped(|a| *a == Access::SkippedByTime),
            skipped(|a| *a == Access::SkippedByCursor),
            skipped(|a| matches!(a, Access::AbsentValue(_))),
            self.not_reached,
        )?;
        for s in &self.segments {
            let name = s
                .path
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default();
            let index = match s.index {
                Some(IndexSource::Memory) => ", index in memory",
                Some(IndexSource::File) => ", index file",
                Some(IndexSource::Rebuilt) => ", index rebuilt from the records",
                None => "",
            };
            write!(
                f,
                "  {name} (seq {}..{}{index}): {}",
                s.first_seq,
                s.first_seq + s.records,
                s.access
            )?;
            if matches!(s.access, Access::Postings { .. } | Access::Scan) {
                write!(f, "; {} examined, {} matched", s.examined, s.matched)?;
            }
            writeln!(f)?;
        }
        if self.not_reached > 0 {
            writeln!(
                f,
                "  {} more segments: not reached (page full)",
                self.not_reached
            )?;
        }
        Ok(())
    }
}
