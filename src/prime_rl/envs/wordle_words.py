"""Secret words for wordle: common five-letter English words, written for this project."""

_TEXT = """
about above actor acute admit adopt adult after again agent agree ahead alarm album alert alike
alive allow alone along alter among anger angle angry apart apple apply arena argue arise array
arrow aside asset audio avoid awake award aware badge baker basic basin beach beard beast begin
being below bench berry birth black blade blame blank blast blend bless blind block blood bloom
board boast bonus boost booth bound brain brake brand brave bread break breed brick bride brief
bring broad broke brown brush build built bunch burst buyer cabin cable camel candy cargo carry
catch cause chain chair chalk charm chart chase cheap check cheek cheer chess chest chief child
chill chose civil claim class clean clear clerk click cliff climb clock close cloth cloud coach
coast color count court cover crack craft crane crash cream crime crisp cross crowd crown crude
curve cycle daily dance dealt death debut delay depth diary dirty doubt dozen draft drain drama
drawn dream dress drift drink drive eager early earth eight elbow elder elect empty enemy enjoy
enter entry equal error essay event every exact exist extra faith false fancy fault feast fence
fever field fifth fifty fight final first flame flash fleet flesh float flock flood floor flour
fluid focus force forge forth forty forum found frame fresh front frost fruit fully funny giant
given glass globe glory glove grace grade grain grand grant grape graph grass grave great green
greet grief gross group grown guard guess guest guide habit happy harsh heart heavy hello hence
horse hotel house human humor hurry ideal image imply index inner input issue ivory jelly jewel
joint judge juice knife knock known label labor large laser later laugh layer learn lease least
leave legal lemon level light limit linen liver local lodge logic loose lover lower loyal lucky
lunch magic major maker maple march match mayor meant medal media mercy merit metal meter might
minor mixed model money month moral motor mount mouse mouth movie music nerve never night noble
noise north novel nurse ocean offer often olive onion opera orbit order organ other ought ounce
outer owner paint panel paper party patch pause peace pearl penny phase phone photo piano piece
pilot pitch place plain plane plant plate plaza point polar porch pound power press price pride
prime print prior prize proof proud prove pupil queen quick quiet quite quote radio raise range
rapid ratio reach ready realm rebel refer relax reply rider ridge rifle right rigid river roast
robin robot rocky rough round route royal rural salad sauce scale scene scent scope score scout
screw seize sense serve seven shade shake shall shape share sharp sheep sheet shelf shell shift
shine shirt shock shoot shore short shout sight silly since sixth skill skirt sleep slice slide
slope small smart smile smoke snake solar solid solve sorry sound south space spare spark speak
speed spend spice spine spite split spoon sport spray squad stack staff stage stair stake stamp
stand start state steam steel steep stick still stock stone stood store storm story stove straw
strip study stuff style sugar suite sunny super swamp sweet swift swing sword table taste teach
teeth thank theme there thick thief thing think third thorn those three threw throw thumb tiger
tight timer title toast today token tooth topic torch total touch tough towel tower toxic trace
track trade trail train trait treat trend trial tribe trick truck truly trunk trust truth tulip
twice twist uncle under union unity until upper upset urban usage usual valid value vapor vault
vivid vocal voice wagon waste watch water wheat wheel where which while white whole whose width
woman world worry worth would wound woven wrist write wrong yield young youth zebra
"""

WORDS: tuple[str, ...] = tuple(_TEXT.split())
