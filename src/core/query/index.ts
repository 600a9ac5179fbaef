/** The filter language and matching engine: parse → analyse → match / rank / explain / search. */

export { analyzeTerm, foldText, stem, type Token, tokenize } from './analyze.js';
export { compileMatcher } from './compile.js';
export {
  type AnalyzedPaper,
  analyzePaper,
  type CorpusStats,
  type ExplainedTerm,
  type Explanation,
  explainMatch,
  formatExplanation,
  type MatchablePaper,
  type Matcher,
  type MatchHit,
  matchesQuery,
  scoreMatch,
} from './match.js';
export {
  FIELDS,
  type Field,
  formatQuery,
  LIMITS,
  type ParseResult,
  parseQuery,
  type Query,
  type QueryError,
} from './parse.js';
export { createSearchIndex, type SearchHit, type SearchIndex, type SearchIndexOptions } from './search.js';
export { FieldWords, PaperWords, WordPool } from './text-codec.js';
