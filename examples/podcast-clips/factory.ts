/**
 * Podcast clips: from an episode's timestamped transcript to a post of its best moments, written with the
 * `conveyor` package's public exports only. What the city-hotline example does not show: a fan-out (each
 * moment rated on its own, a few at a time), an action with nothing to do (an episode without a clip
 * publishes nothing), and batches — a season of episodes in one `conveyor run --batch`.
 *
 *   find-moments (large)      the lines of the transcript that could stand alone as a clip
 *   rate-moment (small) ×N    clip or skip, per moment (a fan-out); an unsure rating escalates
 *   write-post (medium)       the title and summary of the post, with the clips rated worth it
 *   publish-clips (action)    publishes the post — after a producer approves one with many clips
 *
 * Offline every station answers with this file's own rules; with OPENAI_BASE_URL the prompts below go to
 * a real model and the rules are not used.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineAction, defineFactory, defineJobType, defineStation, z } from 'conveyor';

const here = path.dirname(fileURLToPath(import.meta.url));

const moment = z.object({ startSeconds: z.number().int().nonnegative(), quote: z.string().min(1) });
const rating = z.object({ verdict: z.enum(['clip', 'skip']), confidence: z.number().min(0).max(1) });
type Moment = z.infer<typeof moment>;
type Rating = z.infer<typeof rating>;

/** Offline: every `[mm:ss]` line of at least eight words is a candidate moment. */
function momentsByRules(transcript: string): Moment[] {
  return transcript
    .split('\n')
    .map((line) => /^\[(\d+):(\d{2})\]\s+(.+)$/.exec(line.trim()))
    .filter((match): match is RegExpExecArray => match !== null && match[3]!.split(/\s+/).length >= 8)
    .map((match) => ({ startSeconds: Number(match[1]) * 60 + Number(match[2]), quote: match[3]! }))
    .slice(0, 8);
}

const findMoments = defineStation({
  name: 'find-moments',
  description: 'Finds the lines of an episode that could stand alone as a short clip.',
  input: z.object({ transcript: z.string().min(1) }),
  output: z.object({ moments: z.array(moment).max(8) }),
  defaultTier: 'large',
  confidenceThreshold: 0.5,
  confidence: { from: 'model', otherwise: 0.9 },
  maxOutputTokens: 800,
  local: (input) => ({ output: { moments: momentsByRules(input.transcript) }, modelVersion: 'moments-rules@1' }),
  prompt: (input) => ({
    system: 'List up to eight moments of this podcast transcript that could stand alone as a short clip. Answer as JSON: moments, each { startSeconds, quote }.',
    user: input.transcript,
  }),
});

const memorable = /\b(mistake|best|worst|secret|learned|never|nobody|surprising|almost)\b/i;

const rateMoment = defineStation({
  name: 'rate-moment',
  description: 'Says whether one moment is worth a clip.',
  input: z.object({ quote: z.string().min(1), show: z.string() }),
  output: rating,
  defaultTier: 'small',
  confidenceThreshold: 0.7,
  confidence: { from: 'field', field: 'confidence' },
  maxOutputTokens: 40,
  // Offline: a memorable word makes a clip; a question is a hard call for the small tier, so it escalates.
  local: (input, context) => {
    const unsure = input.quote.trim().endsWith('?') && context.model.tier === 'small';
    const output: Rating = { verdict: memorable.test(input.quote) ? 'clip' : 'skip', confidence: unsure ? 0.55 : 0.9 };
    return { output, modelVersion: 'rating-rules@1' };
  },
  prompt: (input) => ({
    system: `Would this moment from the podcast ${input.show} work as a clip on its own? Answer as JSON: verdict (clip | skip), confidence in [0, 1].`,
    user: input.quote,
  }),
});

const post = z.object({ title: z.string().min(1).max(120), summary: z.string().min(1).max(600), clips: z.array(moment) });

const writePost = defineStation({
  name: 'write-post',
  description: 'Writes the title and summary of the clips post.',
  input: z.object({ show: z.string(), episode: z.string(), moments: z.array(moment), ratings: z.array(rating) }),
  output: post,
  defaultTier: 'medium',
  confidenceThreshold: 0.5,
  confidence: { from: 'model', otherwise: 0.9 },
  maxOutputTokens: 500,
  local: (input) => {
    const clips = input.moments.filter((_, index) => input.ratings[index]?.verdict === 'clip');
    return {
      output: {
        title: `${input.show}, ${input.episode}: ${clips.length} ${clips.length === 1 ? 'clip' : 'clips'}`,
        summary: clips.length > 0 ? clips.map((clip) => `“${clip.quote}”`).join(' ') : 'Nothing in this episode stands alone as a clip.',
        clips,
      },
      modelVersion: 'post-template@1',
    };
  },
  prompt: (input) => ({
    system: 'Write a post for the clips of this episode as JSON: title (under 120 characters), summary (two sentences), clips (the moments rated clip).',
    user: JSON.stringify(input),
  }),
});

const publishClips = defineAction({
  name: 'publish-clips',
  description: "Publishes the post and its clips to the show's feed.",
  proposal: post,
  settings: z.object({ maxClipsWithoutReview: z.number().int().nonnegative().default(2) }),
  skip: (proposal) => (proposal.clips.length === 0 ? 'no moment of this episode is worth a clip: nothing to publish' : undefined),
  sensitivity: (proposal, settings) =>
    proposal.clips.length > settings.maxClipsWithoutReview ? `${proposal.clips.length} clips, more than ${settings.maxClipsWithoutReview}: a producer picks what goes out` : undefined,
  // Your publishing system goes here; the key is the same on every retry.
  execute: async (proposal, context) => {
    const file = process.env.PODCAST_POSTS_FILE ?? path.join(here, 'posts.jsonl');
    fs.appendFileSync(file, `${JSON.stringify({ key: context.idempotencyKey, title: proposal.title, clips: proposal.clips.length, approvedBy: context.approvedBy })}\n`);
    return { postId: `POST-${context.jobId}` };
  },
});

const clipEpisode = defineJobType({
  name: 'clip-episode',
  description: 'find moments (large) → rate each (small, a fan-out) → write the post (medium) → publish, after a producer approves a post with many clips',
  input: z.object({ show: z.string().min(1), episode: z.string().min(1), transcript: z.string().min(1).max(200_000) }),
  recipe: {
    steps: [
      { id: 'moments', station: 'find-moments', inputs: { transcript: '$job.transcript' } },
      { id: 'ratings', station: 'rate-moment', each: '$steps.moments.moments', inputs: { quote: '$item.quote', show: '$job.show' }, concurrency: 4 },
      { id: 'post', station: 'write-post', inputs: { show: '$job.show', episode: '$job.episode', moments: '$steps.moments.moments', ratings: '$steps.ratings' } },
      { id: 'publish', action: 'publish-clips', proposal: '$steps.post' },
    ],
  },
  policy: {
    budgetUsd: 0.2,
    approval: { reviewers: ['producer'], timeoutMs: 24 * 60 * 60_000, onTimeout: 'reject' },
    actions: { 'publish-clips': { maxClipsWithoutReview: 2 } },
  },
  summarize: (input) => `${input.show}: ${input.episode}`,
});

export default defineFactory({
  name: 'podcast-clips',
  version: '1.0.0',
  stations: [findMoments, rateMoment, writePost],
  actions: [publishClips],
  jobTypes: [clipEpisode],
});
