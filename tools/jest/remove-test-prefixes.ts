// What a test file made on the broker under the prefixes uniquePrefix() gave it (topics, consumer
// groups) goes when the file ends, so the local broker that `npm start` serves keeps none of it.
// A DollyStack removes its own when it stops.
import { removeIssuedPrefixes } from '../../libs/testing/src/kafka-fixtures';

afterAll(() => removeIssuedPrefixes());
